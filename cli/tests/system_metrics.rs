//! System metrics (issue 12): `runlog exec --system-metrics` around a real child process that burns CPU and
//! allocates memory step by step; the run's system/... series must show it (the process's CPU near a core, its
//! resident memory rising by the amount allocated), and without the flag there are no such series.

mod util;

use serde_json::Value as Json;
use util::*;

const BURN: &str = r#"
import time
chunks = []
end = time.time() + 2.5
next_alloc = 0.0
while time.time() < end:
    if time.time() >= next_alloc and len(chunks) < 8:
        b = bytearray(40 * 1024 * 1024)
        for i in range(0, len(b), 4096):
            b[i] = 1
        chunks.append(b)
        next_alloc = time.time() + 0.25
    sum(range(10000))
"#;

fn series(store: &std::path::Path, run: &str, name: &str) -> Vec<f64> {
    let o = ok(&runlog(store, &["metrics", run, name, "-f", "json"]));
    let v: Json = serde_json::from_str(&o).expect("JSON");
    v[0]["points"].as_array().expect("points").iter().map(|p| p["value"].as_f64().expect("value")).collect()
}

#[test]
fn exec_samples_a_busy_growing_child() {
    let d = tempfile::tempdir().expect("temp dir");
    let store = d.path().join("sys.db");
    let o = runlog(
        &store,
        &[
            "exec",
            "-e",
            "sys",
            "-n",
            "burn",
            "--no-snapshot",
            "--system-metrics",
            "--system-metrics-interval",
            "0.2",
            "--",
            "python3",
            "-c",
            BURN,
        ],
    );
    ok(&o);
    let names: Json = serde_json::from_str(&ok(&runlog(&store, &["show", "sys/burn", "--json"]))).expect("JSON");
    let have: Vec<&str> = names["metrics"].as_object().expect("metrics").keys().map(String::as_str).collect();
    for n in [
        "system/cpu_percent",
        "system/memory_used_bytes",
        "system/memory_percent",
        "system/process_cpu_percent",
        "system/process_memory_bytes",
        "system/process_disk_read_bytes",
        "system/process_disk_write_bytes",
        "system/network_rx_bytes",
        "system/network_tx_bytes",
    ] {
        assert!(have.contains(&n), "{n} in {have:?}");
    }
    assert!(
        !have.iter().any(|n| n.starts_with("system/gpu")) || std::path::Path::new("/dev/nvidiactl").exists(),
        "GPU series only with a GPU"
    );
    let mem = series(&store, "sys/burn", "system/process_memory_bytes");
    assert!(mem.len() >= 5, "a sample every 0.2 s over 2.5 s: {mem:?}");
    let first = mem[0];
    let peak = mem.iter().copied().fold(f64::MIN, f64::max);
    assert!(peak - first >= 150e6, "resident memory rose by most of the 320 MB allocated: {mem:?}");
    // Rising: the peak comes after the first samples, and later samples never drop far below earlier ones.
    let at_peak = mem.iter().position(|&m| m == peak).expect("peak");
    assert!(at_peak > 0, "{mem:?}");
    let cpu = series(&store, "sys/burn", "system/process_cpu_percent");
    let busiest = cpu.iter().copied().fold(f64::MIN, f64::max);
    assert!(busiest >= 40.0, "a busy loop uses most of a core: {cpu:?}");
    let machine = series(&store, "sys/burn", "system/cpu_percent");
    assert!(machine.iter().all(|c| (0.0..=100.0).contains(c)), "{machine:?}");

    // Off by default: no system series.
    ok(&runlog(&store, &["exec", "-e", "sys", "-n", "quiet", "--no-snapshot", "--", "true"]));
    let q: Json = serde_json::from_str(&ok(&runlog(&store, &["show", "sys/quiet", "--json"]))).expect("JSON");
    assert!(q["metrics"].as_object().is_none_or(|m| m.keys().all(|k| !k.starts_with("system/"))), "{q}");
    // RUNLOG_SYSTEM_METRICS=1 turns it on too.
    let o = cmd(&store)
        .env("RUNLOG_SYSTEM_METRICS", "1")
        .args([
            "exec",
            "-e",
            "sys",
            "-n",
            "env",
            "--no-snapshot",
            "--system-metrics-interval",
            "0.1",
            "--",
            "sleep",
            "0.5",
        ])
        .output()
        .expect("run");
    ok(&o);
    assert!(!series(&store, "sys/env", "system/cpu_percent").is_empty());
    // A bad interval names the value and the limit.
    fails(
        &runlog(&store, &["exec", "--system-metrics-interval", "0.01", "--", "true"]),
        2,
        "0.01 is below the limit of 0.1 s",
    );
}
