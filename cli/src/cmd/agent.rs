//! `runlog agent`: keeps syncing stores to every remote as they grow, until interrupted.

use super::Global;
use super::sync::{Tuning, remotes};
use anyhow::Context;
use runlog_sync::agent::Syncer;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `runlog agent`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stores to watch (default: the --store one).
    pub stores: Vec<PathBuf>,
    /// Sync to this remote only.
    #[arg(long)]
    pub remote: Option<String>,
    #[command(flatten)]
    pub tuning: Tuning,
}

/// Runs `runlog agent`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let paths = if args.stores.is_empty() { vec![g.store_path()] } else { args.stores.clone() };
    let rt = tokio::runtime::Runtime::new()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut syncers = Vec::new();
    for p in &paths {
        if !p.exists() {
            anyhow::bail!("store {} does not exist", p.display());
        }
        let store = runlog_core::Store::open(p).with_context(|| format!("failed to open store {}", p.display()))?;
        // Each store syncs to its own remotes (and the global ones).
        let remotes = remotes(Some(store.reader()), args.remote.as_deref())?;
        for r in &remotes {
            let remote = runlog_sync::remote::open(r)?;
            syncers.push(Syncer::new(store.clone(), &r.name, remote, args.tuning.options(), stop_rx.clone())?);
        }
    }
    eprintln!("runlog agent: watching {} store(s), {} store-remote pairs; Ctrl-C stops", paths.len(), syncers.len());
    let wake = Arc::new(tokio::sync::Notify::new());
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for mut s in syncers {
            let w = wake.clone();
            tasks.push(tokio::spawn(async move {
                let name = s.remote_name().to_string();
                if let Err(e) = s.watch(w).await {
                    eprintln!("runlog agent: {name}: {e}");
                }
            }));
        }
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
    });
    Ok(ExitCode::SUCCESS)
}
