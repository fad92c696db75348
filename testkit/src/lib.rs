//! Test support for runlog's own test suites and benchmarks, so they need nothing outside this repository.
//!
//! - [`FaultProxy`]: an HTTP/1.1 proxy on loopback, in process, that injects the faults a sync must survive
//!   (connection resets before the server sees a request, connections cut mid-transfer, lost acknowledgements after the
//!   server committed, 429/503 answers with `Retry-After`, delays), chosen per request from a seeded generator.
//! - [`mlflow`]: a real MLflow tracking server on loopback, started with `scripts/mlflow-server.sh`.
//! - [`services`]: fresh databases and blob prefixes on the PostgreSQL, S3-compatible (moto) and Azure Blob
//!   (Azurite) servers that `scripts/services.sh` starts; [`RoundRobin`], a TCP balancer in front of replicas.
//!
//! Nothing here touches anything beyond loopback and the directories it is given.

mod balance;
pub mod mlflow;
mod proxy;
pub mod services;

pub use balance::RoundRobin;
pub use proxy::{FaultProxy, Faults, Stats};

/// Runs a future to completion on a runtime shared by the calling test binary (for synchronous test code that calls
/// the async server storage). Called from inside a runtime, it waits on a thread of its own.
pub fn block_on<F>(f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the test runtime: {e}"))
    });
    if tokio::runtime::Handle::try_current().is_err() {
        return rt.block_on(f);
    }
    std::thread::scope(|s| s.spawn(|| rt.block_on(f)).join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
}

/// A free loopback port (nothing listens on it when this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// The repository's root directory.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing test leaves nothing running.
#[derive(Debug)]
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A minimal PNG (signature and a 16x16 header, what image checks read) followed by `salt`, so each salt is a
/// distinct image.
pub fn png(salt: &[u8]) -> Vec<u8> {
    let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R'];
    b.extend_from_slice(&16u32.to_be_bytes());
    b.extend_from_slice(&16u32.to_be_bytes());
    b.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(salt);
    b
}

/// A `runlog` command (the binary `bin`) on `store`, hermetic: no inherited store, run, colour or remote settings,
/// and never the user's configuration (its config directory and HOME sit beside the store, in its temp directory).
pub fn runlog_command(bin: impl AsRef<std::ffi::OsStr>, store: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(bin);
    c.env_remove("RUNLOG_STORE").env_remove("RUNLOG_RUN_ID").env("NO_COLOR", "1").arg("--store").arg(store);
    let config = store.parent().unwrap_or(std::path::Path::new(".")).join("config");
    c.env("RUNLOG_CONFIG_DIR", &config).env("HOME", &config).env_remove("RUNLOG_REMOTE").env_remove("RUNLOG_TOKEN");
    c
}
