//! `runlog exec -- CMD ARGS...`: runs a command as a run (the `ScriptRunConfig` of runlog).
//!
//! Creates the run, records the command, working directory, git commit and dirty flag as properties, snapshots the
//! script's directory (respecting .gitignore) as content-addressed files, passes `RUNLOG_STORE` and `RUNLOG_RUN_ID` to
//! the child, captures its stdout and stderr line by line, forwards SIGINT and SIGTERM to it, and ends the run from
//! its exit status. The child's exit code is returned.
//!
//! This module knows how to supervise a process; what is logged goes through `runlog_core::Run` like any library user.

use super::Global;
use crate::common::{self, code};
use anyhow::Context as _;
use runlog_core::{ENV_RUN_ID, ENV_STORE, Run, RunStatus, Store};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};

/// Bounds of the source snapshot; a directory over them is not snapshotted (and says so), the run still starts.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotLimits {
    /// Most bytes in all snapshotted files together (default 10 MiB).
    pub max_total_bytes: u64,
    /// Most files (default 2,000).
    pub max_files: usize,
}

impl Default for SnapshotLimits {
    fn default() -> Self {
        SnapshotLimits { max_total_bytes: 10 << 20, max_files: 2_000 }
    }
}

/// How long to keep reading the child's output after it exited (a grandchild may hold the pipes open).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Arguments of `runlog exec`.
#[derive(Debug, clap::Args)]
#[command(after_help = "The command gets RUNLOG_STORE (absolute path) and RUNLOG_RUN_ID, so a script using the library
(Run::from_env) or `runlog log` logs into the same run. Recorded as properties: command, cwd, git.commit, git.dirty,
snapshot.dir/files/bytes (or snapshot: skipped: <why>). Source files are stored as files named snapshot/<path>.
stdout and stderr are logged line by line as the streams stdout and stderr.

The run ends completed if the command exits 0, failed if it exits non-zero or is killed by a signal, and cancelled if
runlog receives SIGINT (Ctrl-C) or SIGTERM, which it forwards to the command. runlog exits with the command's exit
code, 128 + N if a signal N ended it, or 130 / 143 after SIGINT / SIGTERM. If the command cannot be started: 127.")]
pub struct Args {
    /// Experiment of the new run.
    #[arg(long, short = 'e', default_value = "default")]
    pub experiment: String,
    /// Name of the new run (default: the start of its id).
    #[arg(long, short = 'n')]
    pub name: Option<String>,
    /// Echo the command's stdout and stderr to the terminal while capturing them.
    #[arg(long)]
    pub show_output: bool,
    /// Do not snapshot the script's directory.
    #[arg(long)]
    pub no_snapshot: bool,
    /// Largest total size of the snapshot, in bytes; a bigger directory is not snapshotted.
    #[arg(long, default_value_t = SnapshotLimits::default().max_total_bytes)]
    pub snapshot_max_bytes: u64,
    /// Most files in the snapshot; a directory with more is not snapshotted.
    #[arg(long, default_value_t = SnapshotLimits::default().max_files)]
    pub snapshot_max_files: usize,
    /// Sample CPU, memory, disk and network I/O of the machine and the command (and NVIDIA GPUs, when NVML is
    /// present) into the run's system/... series, on a background thread (also turned on by RUNLOG_SYSTEM_METRICS=1).
    #[arg(long)]
    pub system_metrics: bool,
    /// Seconds between system-metric samples (at least 0.1).
    #[arg(long, value_name = "SECS", default_value_t = runlog_core::system::DEFAULT_INTERVAL.as_secs_f64())]
    pub system_metrics_interval: f64,
    /// The command and its arguments (after `--`).
    #[arg(required = true, last = true)]
    pub command: Vec<String>,
}

/// Runs `runlog exec`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("start the runtime")?;
    rt.block_on(exec(args, g))
}

async fn exec(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let sample_every = std::time::Duration::try_from_secs_f64(args.system_metrics_interval)
        .ok()
        .filter(|d| *d >= runlog_core::system::MIN_INTERVAL)
        .ok_or_else(|| {
            common::coded(
                code::USAGE,
                format!(
                    "--system-metrics-interval {} is below the limit of {} s",
                    args.system_metrics_interval,
                    runlog_core::system::MIN_INTERVAL.as_secs_f64()
                ),
            )
        })?;
    // Listen before anything can be interrupted, so a signal is never lost between here and the child's start.
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigint = signal(SignalKind::interrupt()).context("listen for SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("listen for SIGTERM")?;
    let cwd = std::env::current_dir().context("read the working directory")?;
    let path = g.store_path();
    let path = if path.is_absolute() { path } else { cwd.join(path) };
    // An existing file is checked read-only first, for the same one-line errors and exit codes as the other commands.
    if path.exists() {
        common::open_reader(&path)?;
    }
    let store = Store::open(&path).with_context(|| format!("open store {}", path.display()))?;
    // With a remote configured, this process syncs the run while the script trains (the script itself may have no
    // agent, or no runlog library at all), and gives the upload its grace period when the run ends.
    let _agent = runlog_sync::install(&store).context("start the sync agent")?;
    let run = match &args.name {
        Some(n) => store.start_named_run(&args.experiment, n),
        None => store.start_run(&args.experiment),
    }
    .context("start the run")?;
    record_context(&run, &args, &cwd, &path)?;

    let mut cmd = tokio::process::Command::new(&args.command[0]);
    cmd.args(&args.command[1..])
        .env(ENV_STORE, &path)
        .env(ENV_RUN_ID, run.id().as_str())
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("cannot start {:?}: {e}", args.command[0]);
            run.fail(&msg).context("end the run")?;
            eprintln!("runlog: {msg}");
            return Ok(ExitCode::from(127));
        }
    };
    let sampler = match child.id() {
        Some(p) if args.system_metrics || runlog_core::system::enabled_by_env() => Some(
            runlog_core::system::SystemMetrics::new()
                .interval(sample_every)
                .process(p)
                .start(&run)
                .context("start the system-metrics sampler")?,
        ),
        _ => None,
    };
    let pid = child.id().and_then(|p| rustix::process::Pid::from_raw(p as i32));
    let out = child.stdout.take().map(|s| tokio::spawn(capture(s, run.clone(), "stdout", args.show_output)));
    let err = child.stderr.take().map(|s| tokio::spawn(capture(s, run.clone(), "stderr", args.show_output)));
    let mut interrupted: Option<(i32, &str)> = None;
    let status = loop {
        tokio::select! {
            s = child.wait() => break s.context("wait for the command")?,
            _ = sigint.recv() => {
                interrupted = Some((2, "SIGINT"));
                // On a terminal, Ctrl-C already reached the child (same foreground process group): do not send twice.
                if !terminal_sent_it() {
                    forward(pid, rustix::process::Signal::INT);
                }
            }
            _ = sigterm.recv() => {
                interrupted = Some((15, "SIGTERM"));
                forward(pid, rustix::process::Signal::TERM);
            }
        }
    };
    for task in [out, err].into_iter().flatten() {
        // Output already read is logged; a grandchild holding the pipe open does not keep the run from ending.
        let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, task).await;
    }
    if let Some(s) = sampler {
        s.stop();
    }
    use std::os::unix::process::ExitStatusExt as _;
    let (status_to, reason, exit) = match (interrupted, status.code(), status.signal()) {
        (Some((sig, name)), _, _) => (RunStatus::Cancelled, Some(format!("interrupted by {name}")), 128 + sig),
        (None, Some(0), _) => (RunStatus::Completed, None, 0),
        (None, Some(c), _) => (RunStatus::Failed, Some(format!("command exited with code {c}")), c),
        (None, None, Some(s)) => (RunStatus::Failed, Some(format!("command killed by signal {s}")), 128 + s),
        (None, None, None) => (RunStatus::Failed, Some("command ended without a status".into()), code::ERROR as i32),
    };
    run.end(status_to, reason.as_deref()).context("end the run")?;
    store.flush().context("write the run")?;
    if let Some(r) = &reason {
        if interrupted.is_some() {
            eprintln!("runlog: run {} cancelled: {r}", run.id());
        }
    }
    Ok(ExitCode::from(u8::try_from(exit.clamp(0, 255)).unwrap_or(code::ERROR)))
}

fn terminal_sent_it() -> bool {
    let stdin = std::io::stdin();
    match rustix::termios::tcgetpgrp(&stdin) {
        Ok(fg) => fg == rustix::process::getpgrp(),
        Err(_) => false,
    }
}

fn forward(pid: Option<rustix::process::Pid>, sig: rustix::process::Signal) {
    if let Some(pid) = pid {
        // The child may have exited in between; then there is nobody to tell.
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// Logs each line of a stream into the run (and echoes it when asked).
async fn capture(stream: impl AsyncRead + Unpin, run: Run, name: &'static str, echo: bool) {
    let limit = runlog_core::Limits::LOCAL.max_text_bytes;
    let mut r = BufReader::with_capacity(64 << 10, stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if echo {
            let res = if name == "stdout" {
                let mut o = std::io::stdout().lock();
                o.write_all(&buf).and_then(|_| o.flush())
            } else {
                std::io::stderr().lock().write_all(&buf)
            };
            let _ = res;
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let mut line = String::from_utf8_lossy(&buf).into_owned();
        if line.len() > limit {
            let mut end = limit;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
        }
        let level = if name == "stdout" { "OUT" } else { "ERR" };
        if let Err(e) = run.log_line(name, level, "", &line) {
            eprintln!("runlog: cannot log a line of {name}: {e}");
        }
    }
}

/// Records the command, directory, git state and snapshot as properties.
fn record_context(run: &Run, args: &Args, cwd: &Path, store: &Path) -> anyhow::Result<()> {
    let prop = |k: &str, v: &str| run.add_property(k, v).with_context(|| format!("record property {k}"));
    prop("command", &shell_join(&args.command))?;
    prop("cwd", &cwd.display().to_string())?;
    let dir = script_dir(&args.command, cwd);
    if let Some(commit) = git(&dir, &["rev-parse", "HEAD"]) {
        prop("git.commit", commit.trim())?;
        if let Some(st) = git(&dir, &["status", "--porcelain"]) {
            prop("git.dirty", if st.trim().is_empty() { "false" } else { "true" })?;
        }
    }
    if args.no_snapshot {
        return Ok(());
    }
    let limits = SnapshotLimits { max_total_bytes: args.snapshot_max_bytes, max_files: args.snapshot_max_files };
    match snapshot(run, &dir, store, limits)? {
        Ok((files, bytes)) => {
            prop("snapshot.dir", &dir.display().to_string())?;
            prop("snapshot.files", &files.to_string())?;
            prop("snapshot.bytes", &bytes.to_string())?;
        }
        Err(why) => {
            eprintln!("runlog: snapshot of {} skipped: {why}", dir.display());
            prop("snapshot", &format!("skipped: {why}"))?;
        }
    }
    Ok(())
}

/// The directory of the script: the first argument (or the program) that is an existing file, else `cwd`.
fn script_dir(command: &[String], cwd: &Path) -> PathBuf {
    for a in command {
        let p = cwd.join(a);
        if p.is_file() {
            if let Some(parent) = p.parent() {
                return parent.canonicalize().unwrap_or_else(|_| parent.to_path_buf());
            }
        }
    }
    cwd.to_path_buf()
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let o = std::process::Command::new("git").arg("-C").arg(dir).args(args).stderr(Stdio::null()).output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Stores the files of `dir` (respecting .gitignore, skipping hidden files and the store itself) as
/// `snapshot/<relative path>`. Returns the inner `Err(why)` when the directory is over a limit (nothing stored).
fn snapshot(
    run: &Run,
    dir: &Path,
    store: &Path,
    limits: SnapshotLimits,
) -> anyhow::Result<Result<(usize, u64), String>> {
    let store_name = store.canonicalize().unwrap_or_else(|_| store.to_path_buf());
    let mut files = Vec::new();
    let mut total = 0u64;
    let walk =
        ignore::WalkBuilder::new(dir).hidden(true).git_ignore(true).require_git(false).follow_links(false).build();
    for entry in walk {
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let p = entry.path();
        let canon = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        let s = canon.to_string_lossy();
        let base = store_name.to_string_lossy();
        if s == base || s.strip_prefix(base.as_ref()).is_some_and(|rest| ["-wal", "-shm", "-journal"].contains(&rest)) {
            continue;
        }
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        total += size;
        files.push(p.to_path_buf());
        if files.len() > limits.max_files {
            return Ok(Err(format!(
                "it has more than {} files, the limit is {} (--snapshot-max-files)",
                limits.max_files, limits.max_files
            )));
        }
        if total > limits.max_total_bytes {
            return Ok(Err(format!(
                "it holds more than {} bytes, the limit is {} (--snapshot-max-bytes)",
                limits.max_total_bytes, limits.max_total_bytes
            )));
        }
    }
    let bar = indicatif::ProgressBar::new(files.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("snapshot {bar:30} {pos}/{len} files")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if files.len() < 200 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut bytes = 0u64;
    for f in &files {
        let rel = f.strip_prefix(dir).unwrap_or(f);
        let name = format!("snapshot/{}", rel.to_string_lossy());
        let data = std::fs::read(f).with_context(|| format!("read {} for the snapshot", f.display()))?;
        bytes += data.len() as u64;
        run.upload_bytes(&name, data).with_context(|| format!("store {name}"))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(Ok((files.len(), bytes)))
}

/// Joins a command for display so that a POSIX shell splits it back into the same arguments (`shlex`).
///
/// An argument holding a NUL byte cannot come from a command line; should one appear, it is shown in Rust's debug
/// form rather than failing the run.
fn shell_join(args: &[String]) -> String {
    shlex::try_join(args.iter().map(String::as_str))
        .unwrap_or_else(|_| args.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::shell_join;

    #[test]
    fn shell_join_splits_back_into_the_same_arguments() {
        let args: Vec<String> =
            ["python3", "train.py", "--name", "my run", "it's", "", "$HOME", "a\"b", "ü", "x;y", "*"]
                .map(String::from)
                .to_vec();
        let joined = shell_join(&args);
        assert!(joined.starts_with("python3 train.py --name "), "{joined}");
        assert_eq!(shlex::split(&joined), Some(args), "{joined}");
    }
}
