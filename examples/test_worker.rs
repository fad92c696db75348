//! A worker process for runlog's own test suite (tests/core): it logs into a store in one of a few modes and is
//! killed, raced or counted by the tests. Not a usage example.
//!
//! Modes (first argument):
//! - `crash STORE`: starts a run, prints `run ID`, then logs "x" = step forever, printing `flushed N` after each
//!   `flush()` returns (every point with step < N is durable). The test kills it with SIGKILL.
//! - `load THREADS POINTS`: attaches to `$RUNLOG_RUN_ID` in `$RUNLOG_STORE`, and from each of THREADS threads logs
//!   POINTS points to its own name `p<pid>/t<i>`, then flushes.
//! - `open STORE`: opens (maybe creating) the store, starts a run, logs one point, completes.
//! - `hold STORE`: opens the store, starts a run, logs one point, flushes, prints `ready`, then keeps the store open
//!   until its stdin closes; then completes the run and exits normally.

use runlog::{Run, Store};
use std::io::Write;
use std::time::Duration;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("test_worker: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("crash") => {
            let store = Store::builder(&args[2]).heartbeat_interval(Duration::from_millis(100)).open()?;
            let run = store.start_run("crash")?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "run {}", run.id())?;
            out.flush()?;
            let mut step = 0i64;
            loop {
                for _ in 0..500 {
                    run.log("x", step as f64)?;
                    step += 1;
                }
                run.flush()?;
                writeln!(out, "flushed {step}")?;
                out.flush()?;
            }
        }
        Some("load") => {
            let threads: usize = args[2].parse()?;
            let points: i64 = args[3].parse()?;
            let run = Run::from_env()?;
            let pid = std::process::id();
            std::thread::scope(|s| {
                for t in 0..threads {
                    let run = run.clone();
                    s.spawn(move || {
                        let name = format!("p{pid}/t{t}");
                        for i in 0..points {
                            run.log(&name, i as f64).expect("log");
                        }
                    });
                }
            });
            run.flush()?;
        }
        Some("open") => {
            let store = Store::open(&args[2])?;
            let run = store.start_run("open")?;
            run.log("x", 1.0)?;
            run.complete()?;
        }
        Some("hold") => {
            let store = Store::open(&args[2])?;
            let run = store.start_run("hold")?;
            run.log("x", 1.0)?;
            run.flush()?;
            println!("ready");
            std::io::stdout().flush()?;
            std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())?;
            run.complete()?;
        }
        other => return Err(format!("unknown mode {other:?}").into()),
    }
    Ok(())
}
