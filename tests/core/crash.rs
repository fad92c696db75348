//! A logging process killed with SIGKILL at random moments loses nothing it flushed, never corrupts the file, shows as
//! crashed once its heartbeat is stale, and another process can log into the same file right after.

use crate::util::{temp_store, worker};
use runlog_core::{Reader, RunId, RunStatus, Store};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const KILLS: usize = 20;

#[test]
fn sigkill_at_random_moments_loses_nothing_flushed() {
    let t = temp_store();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    for round in 0..KILLS {
        let mut child = worker()
            .args(["crash", &t.path.display().to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn worker");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let run_line = rx.recv_timeout(Duration::from_secs(60)).expect("worker started a run");
        let id = RunId::parse(run_line.trim_start_matches("run ")).expect("run id");
        // xorshift: a different moment each round, reproducible from the printed seed.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = Duration::from_millis(30 + seed % 400);
        let deadline = Instant::now() + wait;
        let mut flushed = 0i64;
        while Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                if let Some(n) = line.strip_prefix("flushed ") {
                    flushed = n.parse().expect("number");
                }
            }
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        reader.join().expect("reader thread");
        // Lines printed before the kill count too: each was printed after its flush returned.
        while let Ok(line) = rx.try_recv() {
            if let Some(n) = line.strip_prefix("flushed ") {
                flushed = n.parse().expect("number");
            }
        }

        let c = rusqlite::Connection::open(&t.path).expect("raw open");
        let check: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity check");
        assert_eq!(check, "ok", "round {round} (wait {wait:?})");
        drop(c);

        let r = Reader::open(&t.path).expect("reader");
        let pts = r.series(&id, "x").expect("series");
        assert!(
            pts.len() as i64 >= flushed,
            "round {round}: {} points stored but {flushed} were flushed (killed after {wait:?})",
            pts.len()
        );
        for (i, p) in pts.iter().enumerate() {
            assert_eq!((p.step, p.value), (i as i64, i as f64), "round {round}: point {i} once and in order");
        }
        // Heartbeat interval 100 ms, stale after 3 intervals.
        let start = Instant::now();
        loop {
            let status = r.run(&id).expect("run").status;
            if status == RunStatus::Crashed {
                break;
            }
            assert_eq!(status, RunStatus::Running);
            assert!(start.elapsed() < Duration::from_secs(10), "round {round}: run never shown as crashed");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // A new process (this one) can log into the file after the last kill.
    let store = Store::open(&t.path).expect("reopen");
    // The derived crashes become recorded facts (what sync sends), once.
    assert_eq!(store.record_crashed_runs().expect("record"), KILLS);
    assert_eq!(store.record_crashed_runs().expect("again"), 0);
    let recorded = store.reader().runs().expect("runs");
    assert!(
        recorded
            .iter()
            .all(|r| r.status == RunStatus::Crashed && r.reason.as_deref().is_some_and(|x| x.contains("heartbeat")))
    );
    let run = store.start_run("after").expect("run");
    run.log("y", 1.0).expect("log");
    run.complete().expect("complete");
    let runs = store.reader().runs().expect("runs");
    assert_eq!(runs.len(), KILLS + 1);
    assert_eq!(runs.iter().filter(|r| r.status == RunStatus::Crashed).count(), KILLS);
}
