//! System metrics beside a run, opt-in (feature `system-metrics`): a background thread samples the machine and a
//! process tree every interval (10 s by default) into `system/...` scalar series of the run, the way W&B and MLflow
//! record the machine next to the metrics. `runlog exec --system-metrics` (or `RUNLOG_SYSTEM_METRICS=1`) samples the
//! wrapped command; a program samples itself with [`SystemMetrics`]:
//!
//! ```
//! # fn main() -> runlog_core::Result<()> {
//! let dir = tempfile::tempdir().expect("temp dir");
//! let store = runlog_core::Store::open(dir.path().join("runlog.db"))?;
//! let run = store.start_run("mnist")?;
//! let sampler = runlog_core::system::SystemMetrics::new()
//!     .interval(std::time::Duration::from_millis(200))
//!     .start(&run)?;
//! // ... train ...
//! sampler.stop(); // one last sample; dropping it does the same
//! run.complete()?;
//! # Ok(()) }
//! ```
//!
//! Series (one point per sample, automatic steps):
//! - `system/cpu_percent` (whole machine, 0..100), `system/memory_used_bytes`, `system/memory_percent`;
//! - `system/process_cpu_percent` (the process and its descendants; 100 = one core), `system/process_memory_bytes`
//!   (their resident memory), `system/process_disk_read_bytes`, `system/process_disk_write_bytes` (cumulative);
//! - `system/network_rx_bytes`, `system/network_tx_bytes` (all interfaces, cumulative since sampling started);
//! - `system/gpu<i>/utilization_percent`, `system/gpu<i>/memory_used_bytes` for each NVIDIA GPU, when NVIDIA's
//!   management library (libnvidia-ml) can be loaded at run time; without it there are simply no GPU series.
//!
//! A store can sample every top-level run it starts instead: `Store::builder(path).system_metrics(Some(...))`, or
//! `.system_metrics(SystemMetrics::from_env())` to follow `RUNLOG_SYSTEM_METRICS`; the run then owns the sampler,
//! which stops (after one last sample) when the run ends.
//!
//! The sampler runs on its own thread and logs through the run like any caller: the training loop's log calls never
//! wait for it. It reads /proc through `sysinfo` (no C library, no network) and loads NVML through `nvml-wrapper`
//! (`libloading`) only if present. This module knows runs, not the store's internals.

use crate::{Error, Result, Run};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use sysinfo::{Networks, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// The environment variable that turns sampling on (`1`, `true`, `yes` or `on`): for `runlog exec`, a Python
/// script's own run, and a store opened with `.system_metrics(SystemMetrics::from_env())`.
pub const ENV: &str = "RUNLOG_SYSTEM_METRICS";
/// The default time between samples.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// The shortest interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// What to sample and how often; [`SystemMetrics::start`] starts the thread.
#[derive(Debug, Clone)]
pub struct SystemMetrics {
    interval: Duration,
    pid: u32,
}

impl Default for SystemMetrics {
    fn default() -> Self {
        SystemMetrics { interval: DEFAULT_INTERVAL, pid: std::process::id() }
    }
}

impl SystemMetrics {
    /// Sampling of this process every [`DEFAULT_INTERVAL`].
    pub fn new() -> SystemMetrics {
        SystemMetrics::default()
    }

    /// Time between samples (default [`DEFAULT_INTERVAL`], 10 s; at least [`MIN_INTERVAL`]).
    pub fn interval(&mut self, d: Duration) -> &mut Self {
        self.interval = d;
        self
    }

    /// The root of the process tree whose CPU, memory and disk I/O are sampled (default: this process).
    pub fn process(&mut self, pid: u32) -> &mut Self {
        self.pid = pid;
        self
    }

    /// Sampling of this process every [`DEFAULT_INTERVAL`] if `RUNLOG_SYSTEM_METRICS` asks for it ([`enabled_by_env`]),
    /// else `None`: what [`crate::StoreBuilder::system_metrics`] takes.
    pub fn from_env() -> Option<SystemMetrics> {
        enabled_by_env().then(SystemMetrics::new)
    }

    /// Checks the settings: an interval under [`MIN_INTERVAL`] is an error.
    pub(crate) fn check(&self) -> Result<()> {
        if self.interval < MIN_INTERVAL {
            return Err(Error::Invalid(format!(
                "system-metrics interval {:?} is below the limit of {:?}",
                self.interval, MIN_INTERVAL
            )));
        }
        Ok(())
    }

    /// Starts the sampler thread logging into `run`. Errors: an interval under [`MIN_INTERVAL`], or a thread that
    /// cannot be started.
    pub fn start(&self, run: &Run) -> Result<Sampler> {
        self.spawn(Target::Run(run.clone()))
    }

    /// Starts a sampler that the run itself owns (a store's [`crate::StoreBuilder::system_metrics`]): it holds the
    /// run weakly, so that dropping the run's last handle still ends the run, and it stops when the run ends.
    pub(crate) fn start_owned(&self, run: &Run) -> Result<Sampler> {
        self.spawn(Target::Owner(run.downgrade()))
    }

    fn spawn(&self, target: Target) -> Result<Sampler> {
        self.check()?;
        Sampler::start(target, self.pid, self.interval)
            .map_err(|e| Error::Invalid(format!("cannot start the system-metrics thread: {e}")))
    }
}

/// The run a sampler logs into: held by the sampler ([`SystemMetrics::start`]), or by its owner.
enum Target {
    Run(Run),
    Owner(crate::run::WeakRun),
}

impl Target {
    fn get(&self) -> Option<Run> {
        match self {
            Target::Run(r) => Some(r.clone()),
            Target::Owner(w) => w.upgrade(),
        }
    }
}

/// Whether `RUNLOG_SYSTEM_METRICS` asks for sampling.
pub fn enabled_by_env() -> bool {
    std::env::var(ENV).is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// A running sampler; [`Sampler::stop`] (or dropping it) ends the thread after one last sample.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    wake: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(target: Target, pid: u32, interval: Duration) -> std::io::Result<Sampler> {
        let stop = Arc::new(AtomicBool::new(false));
        let (wake, sleep) = std::sync::mpsc::channel::<()>();
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("runlog-system-metrics".into()).spawn(move || {
            let mut s = State::new(pid);
            // The first CPU reading needs a baseline; take it, then sample on every tick.
            s.refresh();
            loop {
                let stopping = match sleep.recv_timeout(interval) {
                    Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => true,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => flag.load(Ordering::Relaxed),
                };
                s.refresh();
                // An owner's run gone (its last handle dropped) ends the sampling.
                let Some(run) = target.get() else { return };
                if let Err(e) = s.log(&run) {
                    eprintln!("runlog: system metrics stopped: {e}");
                    return;
                }
                // This may be the run's last handle: dropping it ends the run, and with it this sampler (see finish).
                drop(run);
                if stopping {
                    return;
                }
            }
        })?;
        Ok(Sampler { stop, wake, thread: Some(thread) })
    }

    /// Takes a last sample and waits for the thread to end.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.wake.send(());
        if let Some(t) = self.thread.take() {
            // A run owning its sampler can end on the sampler's own thread (the thread held its last handle while
            // logging); that thread then returns by itself, after the wake-up.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.finish();
    }
}

struct State {
    root: Pid,
    sys: System,
    nets: Networks,
    net_base: Option<(u64, u64)>,
    gpu: Option<nvml_wrapper::Nvml>,
    sample: Vec<(String, f64)>,
}

impl State {
    fn new(pid: u32) -> State {
        State {
            root: Pid::from_u32(pid),
            sys: System::new(),
            nets: Networks::new_with_refreshed_list(),
            net_base: None,
            // Absent NVML (no NVIDIA driver) is the normal case on most machines: no GPU series, no error.
            gpu: nvml_wrapper::Nvml::init().ok(),
            sample: Vec::new(),
        }
    }

    fn refresh(&mut self) {
        self.sys.refresh_cpu_usage();
        self.sys.refresh_memory();
        self.sys.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing().with_cpu().with_memory().with_disk_usage(),
        );
        self.nets.refresh(true);
        let mut s = Vec::with_capacity(16);
        s.push(("system/cpu_percent".into(), f64::from(self.sys.global_cpu_usage())));
        let (used, total) = (self.sys.used_memory(), self.sys.total_memory());
        s.push(("system/memory_used_bytes".into(), used as f64));
        if total > 0 {
            s.push(("system/memory_percent".into(), used as f64 * 100.0 / total as f64));
        }
        // The command and every descendant (a training script's data-loader workers count too).
        let mut children: HashMap<Pid, Vec<Pid>> = HashMap::new();
        for (pid, p) in self.sys.processes() {
            if let Some(parent) = p.parent() {
                children.entry(parent).or_default().push(*pid);
            }
        }
        let mut tree = HashSet::new();
        let mut stack = vec![self.root];
        while let Some(p) = stack.pop() {
            if tree.insert(p) {
                stack.extend(children.get(&p).into_iter().flatten().copied());
            }
        }
        let (mut cpu, mut mem, mut read, mut written, mut alive) = (0.0f64, 0u64, 0u64, 0u64, false);
        for pid in &tree {
            if let Some(p) = self.sys.process(*pid) {
                alive = true;
                cpu += f64::from(p.cpu_usage());
                mem += p.memory();
                let d = p.disk_usage();
                read += d.total_read_bytes;
                written += d.total_written_bytes;
            }
        }
        if alive {
            s.push(("system/process_cpu_percent".into(), cpu));
            s.push(("system/process_memory_bytes".into(), mem as f64));
            s.push(("system/process_disk_read_bytes".into(), read as f64));
            s.push(("system/process_disk_write_bytes".into(), written as f64));
        }
        let (rx, tx) =
            self.nets.iter().fold((0u64, 0u64), |(r, t), (_, n)| (r + n.total_received(), t + n.total_transmitted()));
        let (rx0, tx0) = *self.net_base.get_or_insert((rx, tx));
        s.push(("system/network_rx_bytes".into(), rx.saturating_sub(rx0) as f64));
        s.push(("system/network_tx_bytes".into(), tx.saturating_sub(tx0) as f64));
        if let Some(nvml) = &self.gpu {
            for i in 0..nvml.device_count().unwrap_or(0) {
                let Ok(dev) = nvml.device_by_index(i) else { continue };
                if let Ok(u) = dev.utilization_rates() {
                    s.push((format!("system/gpu{i}/utilization_percent"), f64::from(u.gpu)));
                }
                if let Ok(m) = dev.memory_info() {
                    s.push((format!("system/gpu{i}/memory_used_bytes"), m.used as f64));
                }
            }
        }
        self.sample = s;
    }

    fn log(&self, run: &Run) -> Result<()> {
        for (name, v) in &self.sample {
            run.log(name, *v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process_into_system_series() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = crate::Store::builder(dir.path().join("s.db"))
            .flush_interval(Duration::from_millis(1))
            .open()
            .expect("store");
        let run = store.start_run("sys").expect("run");
        assert!(SystemMetrics::new().interval(Duration::from_millis(10)).start(&run).is_err(), "under the limit");
        let s = SystemMetrics::new().interval(Duration::from_millis(100)).start(&run).expect("start");
        // Touch 200 MB while the sampler watches.
        let mut keep = Vec::new();
        for _ in 0..5 {
            let mut b = vec![0u8; 40 << 20];
            for i in (0..b.len()).step_by(4096) {
                b[i] = 1;
            }
            keep.push(b);
            std::thread::sleep(Duration::from_millis(120));
        }
        s.stop();
        store.flush().expect("flush");
        let mem: Vec<f64> = store
            .reader()
            .series(run.id(), "system/process_memory_bytes")
            .expect("series")
            .iter()
            .map(|p| p.value)
            .collect();
        assert!(mem.len() >= 3, "{mem:?}");
        let peak = mem.iter().copied().fold(f64::MIN, f64::max);
        assert!(peak - mem[0] >= 100e6, "resident memory rose with the 200 MB touched: {mem:?}");
        assert!(!store.reader().series(run.id(), "system/cpu_percent").expect("series").is_empty());
        drop(keep);
    }

    #[test]
    fn a_store_samples_each_top_level_run_it_starts_until_the_run_ends() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.db");
        let mut too_fast = SystemMetrics::new();
        too_fast.interval(Duration::from_millis(10));
        let e = crate::Store::builder(&path).system_metrics(Some(too_fast)).open().expect_err("under the limit");
        assert!(e.to_string().contains("below the limit of 100ms"), "{e}");
        let mut every = SystemMetrics::new();
        every.interval(Duration::from_millis(100));
        let store = crate::Store::builder(&path)
            .flush_interval(Duration::from_millis(1))
            .system_metrics(Some(every))
            .open()
            .expect("store");
        let plain = crate::Store::open(&path).expect("a second handle, without the option");
        let run = store.start_run("sys").expect("run");
        let child = run.child("fold").expect("child");
        let unsampled = plain.start_run("sys").expect("run of the plain handle");
        std::thread::sleep(Duration::from_millis(600));
        run.complete().expect("end");
        let r = store.reader();
        let n = r.series(run.id(), "system/cpu_percent").expect("series").len();
        assert!(n >= 3, "sampled every 100 ms for 600 ms, then once more at the end: {n} points");
        std::thread::sleep(Duration::from_millis(250));
        store.flush().expect("flush");
        assert_eq!(r.series(run.id(), "system/cpu_percent").expect("series").len(), n, "nothing after the end");
        for other in [child.id(), unsampled.id()] {
            let names: Vec<String> = r.metrics(other).expect("metrics").into_iter().map(|m| m.name).collect();
            assert!(!names.iter().any(|m| m.starts_with("system/")), "{names:?}");
        }
        child.complete().expect("end");
        unsampled.complete().expect("end");

        // A sampled run dropped without an end still ends (the sampler holds it weakly), as completed.
        let dropped = store.start_run("sys").expect("run");
        let id = dropped.id().clone();
        std::thread::sleep(Duration::from_millis(250));
        drop(dropped);
        // The sampler may hold the last handle for a moment, while it logs: the run then ends on its thread.
        let mut status = crate::RunStatus::Running;
        for _ in 0..200 {
            store.flush().expect("flush");
            status = r.run(&id).expect("run").status;
            if status != crate::RunStatus::Running {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(status, crate::RunStatus::Completed);
        assert!(!r.series(&id, "system/cpu_percent").expect("series").is_empty());
    }
}
