//! Copying a store that may still be written, with SQLite's online backup API.
//!
//! Copying `runlog.db` with `cp` while a process writes it can tear a page or miss what is still in the WAL; this
//! takes one consistent snapshot instead (one read transaction over every page), writes it to a temporary file
//! beside the destination and renames it into place, so the destination is either absent or a whole store.

use super::conn::{BUSY_TIMEOUT, open_ro};
use super::schema;
use crate::error::{Context, Error, Result};
use rusqlite::Connection;
use rusqlite::backup::StepResult;
use std::path::Path;
use std::time::Duration;

/// Copies the store at `src` to a new single file `dest`, consistently, while other processes may write `src`.
/// Refuses a `dest` that exists (nothing is ever overwritten) and a `src` that is not a runlog store.
///
/// # Blocking
/// Reads the whole store; waits for a writer's commit in progress (never for longer than the busy timeout per try).
pub fn backup(src: &Path, dest: &Path) -> Result<()> {
    if dest.exists() {
        return Err(Error::invalid(format!(
            "backup destination {} exists; runlog never overwrites a file, name a new one",
            dest.display()
        )));
    }
    let from = open_ro(src)?;
    let shown = src.display().to_string();
    if schema::check_readable(&from, &shown)? == 0 {
        return Err(Error::Format(format!("{shown} is not a runlog store (it has no runlog schema)")));
    }
    let name = dest
        .file_name()
        .ok_or_else(|| Error::invalid(format!("backup destination {} does not name a file", dest.display())))?;
    let tmp = dest.with_file_name(format!(".{}.backup-{}", name.to_string_lossy(), std::process::id()));
    let result = copy(&from, &tmp).and_then(|()| {
        std::fs::rename(&tmp, dest).map_err(|e| Error::storage(format!("rename the backup to {}", dest.display()), e))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn copy(from: &Connection, tmp: &Path) -> Result<()> {
    let shown = tmp.display();
    let mut to = Connection::open(tmp).context(format!("create {shown}"))?;
    to.busy_timeout(BUSY_TIMEOUT).context("set busy timeout")?;
    {
        let b = rusqlite::backup::Backup::new(from, &mut to).context(format!("start the backup into {shown}"))?;
        // -1: every page in one step, so the copy is one snapshot and never restarts because a writer committed.
        // Busy or locked: a writer is committing; try again shortly.
        loop {
            match b.step(-1).context(format!("copy the store into {shown}"))? {
                StepResult::Done => break,
                StepResult::More | StepResult::Busy | StepResult::Locked => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
    // The copy is a store like any other: WAL mode, then closed, which leaves it one file.
    let _: String = to.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).context("set WAL mode")?;
    to.close().map_err(|(_, e)| Error::storage(format!("close {shown}"), e))
}
