//! `runlog ui`: serves the web UI ([`crate::ui::router`]) over a local store, read-only, on loopback by default.

use super::Global;
use crate::common;
use anyhow::Context as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `runlog ui`.
#[derive(Debug, clap::Args)]
#[command(after_help = "The UI is served from the binary (no network access, no CDN) and reads the store read-only;
a running run's page refreshes by itself. The URL is printed on stdout once the server listens. Stop with Ctrl-C.
Use --listen 127.0.0.1:0 for any free port.")]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6070")]
    pub listen: String,
}

/// Runs `runlog ui`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let path = g.store_path();
    let reader = common::open_reader(&path)?;
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
        let mut out = std::io::stdout();
        writeln!(out, "runlog ui: serving {} at http://{addr}/", path.display()).context("write output")?;
        out.flush().context("write output")?;
        let app = crate::ui::router(Arc::new(reader));
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serve the UI")?;
        Ok(ExitCode::SUCCESS)
    })
}
