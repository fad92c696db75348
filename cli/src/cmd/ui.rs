//! `runlog ui`: serves the web UI ([`crate::ui::router`]) and MLflow's REST API ([`crate::mlflow`]) over a local
//! store, on loopback by default.

use super::Global;
use crate::common;
use anyhow::Context as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `runlog ui`.
#[derive(Debug, clap::Args)]
#[command(after_help = "The UI is served from the binary (no network access, no CDN); a running run's page refreshes
by itself. The same address is an MLflow tracking server: MLFLOW_TRACKING_URI=http://127.0.0.1:6070 sends any MLflow
client's runs, metrics, params, tags and artifacts into the store. Writes are allowed on a loopback address unless
--read-only; on any other address only with --writable. The URL is printed on stdout once the server listens. Stop
with Ctrl-C. Use --listen 127.0.0.1:0 for any free port.")]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6070")]
    pub listen: String,
    /// Refuse every write through the MLflow API (PERMISSION_DENIED).
    #[arg(long, conflicts_with = "writable")]
    pub read_only: bool,
    /// Allow writes through the MLflow API on an address beyond loopback (anyone who reaches it can log).
    #[arg(long)]
    pub writable: bool,
    /// Create the store if it does not exist (for MLflow clients logging into a new store); without it a missing
    /// store is an error, as for every reading command.
    #[arg(long, conflicts_with = "read_only")]
    pub create: bool,
}

/// Runs `runlog ui`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let path = g.store_path();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| {
            format!("listen on {} (is it in use? --listen 127.0.0.1:0 picks a free port)", args.listen)
        })?;
        let addr = listener.local_addr().context("read the listening address")?;
        let writable = !args.read_only && (args.writable || addr.ip().is_loopback());
        if args.create && !path.exists() {
            // An MLflow client may be the first to log: the store is created, as `runlog:` would create it.
            runlog_core::Store::open(&path).map_err(|e| common::coded(common::code::STORE, e))?;
        }
        let reader = common::open_reader(&path)?;
        let mut out = std::io::stdout();
        writeln!(out, "runlog ui: serving {} at http://{addr}/", path.display()).context("write output")?;
        out.flush().context("write output")?;
        // A connection of its own: MLflow requests and page loads read in parallel.
        let tracking = crate::mlflow::local::LocalTracking::new(path.clone(), common::open_reader(&path)?);
        let mlflow = crate::mlflow::Endpoint::new(Arc::new(tracking), writable);
        let app = crate::ui::router(Arc::new(reader)).merge(crate::mlflow::router(mlflow));
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serve the UI")?;
        Ok(ExitCode::SUCCESS)
    })
}
