//! Opening SQLite connections the way every part of runlog needs them: WAL, a busy timeout, and retries on the rare
//! `SQLITE_BUSY` that a busy timeout does not cover (switching a fresh file to WAL while another process does too).

use crate::error::{Context, Error, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a statement waits for another process's write lock before SQLite gives up (then we retry).
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Page size of new store files, in bytes.
pub(crate) const PAGE_SIZE: i64 = 8_192;
/// How long opening retries `SQLITE_BUSY` before it reports it.
const OPEN_RETRY_FOR: Duration = Duration::from_secs(120);

pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked))
}

/// Runs `f` until it stops failing with `SQLITE_BUSY` (bounded by [`OPEN_RETRY_FOR`]).
pub(crate) fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match f() {
            Err(e) if is_busy(&e) && start.elapsed() < OPEN_RETRY_FOR => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Opens (creating if missing) a read-write connection in WAL mode.
pub(crate) fn open_rw(path: &Path, synchronous_full: bool) -> Result<Connection> {
    let shown = path.display();
    let conn = Connection::open(path).context(format!("open store {shown}"))?;
    conn.busy_timeout(BUSY_TIMEOUT).context("set busy timeout")?;
    // Effective only on a new, empty file: packed chunks (about 40 KB) then span fewer overflow pages.
    conn.pragma_update(None, "page_size", PAGE_SIZE)
        .map_err(|e| Error::Format(format!("{shown} is not a runlog store: {e}")))?;
    let mode: String = retry_busy(|| conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)))
        .map_err(|e| Error::Format(format!("{shown} is not a runlog store: {e}")))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::storage(format!("switch {shown} to WAL"), format!("journal mode stayed {mode}")));
    }
    let sync = if synchronous_full { "FULL" } else { "NORMAL" };
    conn.pragma_update(None, "synchronous", sync).context("set synchronous")?;
    Ok(conn)
}

/// Opens an existing store for reading only; a missing file is an error, never created.
///
/// The connection is opened read-write but set `query_only`, so it can never write, yet, being the last connection
/// to close, it may still checkpoint and delete the WAL and shared-memory files, which a `SQLITE_OPEN_READ_ONLY`
/// connection cannot: reading a store leaves it one file. A file this process may not write falls back to a plain
/// read-only connection.
pub(crate) fn open_ro(path: &Path) -> Result<Connection> {
    let shown = path.display();
    if !path.exists() {
        return Err(Error::NotFound(format!("store {shown} does not exist")));
    }
    let not_a_store = |e: rusqlite::Error| Error::Format(format!("{shown} is not a runlog store: {e}"));
    let rw = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .and_then(|c| c.pragma_update(None, "query_only", true).map(|()| c));
    let conn = match rw {
        Ok(c) => c,
        Err(_) => Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(not_a_store)?,
    };
    conn.busy_timeout(BUSY_TIMEOUT).context("set busy timeout")?;
    Ok(conn)
}
