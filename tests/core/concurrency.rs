//! Many processes and threads write one file at once: everything lands, exactly once, nobody sees "database is locked".

use crate::util::{temp_store, worker};
use runlog_core::{RunStatus, Store};

const PROCESSES: usize = 8;
const THREADS: usize = 4;
const POINTS: i64 = 100_000;

#[test]
fn eight_processes_times_four_threads_land_every_point_once() {
    let t = temp_store();
    let store = Store::open(&t.path).expect("open");
    let run = store.start_run("ddp").expect("run");
    run.flush().expect("flush");
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            worker()
                .args(["load", &THREADS.to_string(), &POINTS.to_string()])
                .env("RUNLOG_STORE", &t.path)
                .env("RUNLOG_RUN_ID", run.id().as_str())
                .spawn()
                .expect("spawn")
        })
        .collect();
    // Reading works while they write: counts only grow, and no read fails.
    let reader = runlog_core::Reader::open(&t.path).expect("reader");
    let mut seen = 0u64;
    let mut reads = 0;
    while !children.is_empty() && reads < 50 {
        let now: u64 = reader.metrics(run.id()).expect("read while writing").iter().map(|m| m.count).sum();
        assert!(now >= seen, "a read went backwards: {now} < {seen}");
        seen = now;
        reads += 1;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut pids = Vec::new();
    for mut c in children {
        pids.push(c.id());
        let status = c.wait().expect("wait");
        assert!(status.success(), "worker {} failed: {status}", pids.last().copied().unwrap_or(0));
    }
    run.complete().expect("complete");
    let r = store.reader();
    let metrics = r.metrics(run.id()).expect("metrics");
    assert_eq!(metrics.len(), PROCESSES * THREADS);
    for pid in pids {
        for th in 0..THREADS {
            let name = format!("p{pid}/t{th}");
            let pts = r.series(run.id(), &name).expect("series");
            assert_eq!(pts.len() as i64, POINTS, "{name}");
            assert!(pts.iter().enumerate().all(|(i, p)| p.step == i as i64 && p.value == i as f64), "{name}");
        }
    }
    assert_eq!(r.run(run.id()).expect("info").status, RunStatus::Completed);
}

#[test]
fn processes_creating_a_fresh_file_at_once_all_succeed() {
    let t = temp_store();
    let children: Vec<_> =
        (0..8).map(|_| worker().args(["open", &t.path.display().to_string()]).spawn().expect("spawn")).collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    let r = runlog_core::Reader::open(&t.path).expect("reader");
    let runs = r.runs().expect("runs");
    assert_eq!(runs.len(), 8);
    assert!(runs.iter().all(|x| x.status == RunStatus::Completed));
}

/// While another process holds the write lock, log calls fill the writer's budget and then wait (memory stays
/// bounded); when the lock goes, everything lands and nobody saw "database is locked".
#[test]
fn a_stalled_writer_makes_log_calls_wait_and_nothing_is_lost() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    let t = temp_store();
    let store = Store::open(&t.path).expect("open");
    let run = store.start_run("stall").expect("run");
    run.flush().expect("flush");
    let blocker = rusqlite::Connection::open(&t.path).expect("raw");
    blocker.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");

    // Each point holds 24 bytes until committed: this is three times the budget.
    let total = 3 * runlog_core::store::MAX_QUEUED_BYTES as u64 / 24;
    let logged = Arc::new(AtomicU64::new(0));
    let writer = {
        let (run, logged) = (run.clone(), logged.clone());
        std::thread::spawn(move || {
            for i in 0..total {
                run.log("x", i as f64).expect("log never fails while waiting");
                logged.store(i + 1, Ordering::Relaxed);
            }
            run.flush().expect("flush");
        })
    };
    // Wait until the logger stops advancing: it is blocked on the budget, not racing ahead.
    let mut last = 0;
    let mut stalled = false;
    for _ in 0..200 {
        std::thread::sleep(Duration::from_millis(100));
        let now = logged.load(Ordering::Relaxed);
        if now == last && now > 0 {
            stalled = true;
            break;
        }
        last = now;
    }
    assert!(stalled, "the logger never waited ({last} of {total} calls done)");
    assert!(last < total, "all {total} calls returned while nothing could be committed");
    let queued_points = last as usize;
    assert!(
        queued_points * 24 <= runlog_core::store::MAX_QUEUED_BYTES + 4096 * 24 * 2,
        "{queued_points} points waited in memory, more than the budget"
    );
    blocker.execute_batch("COMMIT").expect("release the lock");
    writer.join().expect("logger thread");
    assert_eq!(store.reader().series(run.id(), "x").expect("series").len() as u64, total);
}
