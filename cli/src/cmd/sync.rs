//! `runlog sync`: one pass per remote with a progress bar; exits 0 only when every record is acknowledged or
//! rejected with a reason, and prints a summary of both.

use super::Global;
use anyhow::Context;
use runlog_sync::agent::{AgentOptions, Backoff, Syncer};
use runlog_sync::config::{self, RemoteConfig};
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `runlog sync`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sync to this remote only (default: every configured remote, or $RUNLOG_REMOTE).
    #[arg(long)]
    pub remote: Option<String>,
    /// Give up retrying after this many seconds (the data stays for the next sync).
    #[arg(long, default_value_t = 600)]
    pub max_wait_secs: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub tuning: Tuning,
}

/// Retry timing flags shared by `sync`, `agent` and `bundle import`.
#[derive(Debug, Clone, clap::Args)]
pub struct Tuning {
    /// First wait after a failure, in ms.
    #[arg(long, default_value_t = 500, hide = true)]
    pub backoff_initial_ms: u64,
    /// Longest wait between tries, in ms.
    #[arg(long, default_value_t = 300_000, hide = true)]
    pub backoff_max_ms: u64,
    /// How often `runlog agent` looks for new data, in ms.
    #[arg(long, default_value_t = 1_000, hide = true)]
    pub poll_ms: u64,
}

impl Tuning {
    /// Agent options from the flags.
    pub fn options(&self) -> AgentOptions {
        AgentOptions {
            backoff: Backoff {
                initial: Duration::from_millis(self.backoff_initial_ms.max(1)),
                max: Duration::from_millis(self.backoff_max_ms.max(1)),
                ..Backoff::default()
            },
            poll_interval: Duration::from_millis(self.poll_ms.max(1)),
            ..AgentOptions::default()
        }
    }
}

/// The remotes `store` syncs to: one by name (among every configured one), else those that apply (see
/// [`runlog_sync::config::remotes_for`]); an error when there is none.
pub fn remotes(store: Option<&runlog_core::Reader>, name: Option<&str>) -> anyhow::Result<Vec<RemoteConfig>> {
    let all = match name {
        Some(n) => {
            let mut all = config::remotes_for(store)?;
            all.extend(config::configured(store)?);
            all.into_iter().filter(|r| r.name == n).take(1).collect()
        }
        None => config::remotes_for(store)?,
    };
    if all.is_empty() {
        match name {
            Some(n) => anyhow::bail!("no remote named {n:?}; see `runlog remote list`"),
            None => anyhow::bail!(
                "no remote is configured; add one to this store with `runlog remote add NAME URL --token TOKEN`"
            ),
        }
    }
    Ok(all)
}

/// Opens an existing store for syncing (never creates one).
pub fn open_store(g: &Global) -> anyhow::Result<runlog_core::Store> {
    let path = g.store_path();
    if !path.exists() {
        anyhow::bail!("store {} does not exist", path.display());
    }
    runlog_core::Store::open(&path).with_context(|| format!("failed to open store {}", path.display()))
}

/// Runs `runlog sync`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let store = open_store(g)?;
    let remotes = remotes(Some(store.reader()), args.remote.as_deref())?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut all_ok = true;
    let mut summaries = Vec::new();
    for r in &remotes {
        let remote = runlog_sync::remote::open(r)?;
        let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut syncer = Syncer::new(store.clone(), &r.name, remote, args.tuning.options(), stop_rx)?;
        let bar = indicatif::ProgressBar::new(syncer.pending()?.max(0) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} records {per_sec} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(r.name.clone());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(args.max_wait_secs);
        let outcome = rt.block_on(syncer.pass(Some(deadline), &mut |done, total| {
            bar.set_length(total.max(0) as u64);
            bar.set_position(done.max(0) as u64);
        }));
        bar.finish_and_clear();
        let summary = match outcome {
            Ok(s) => s,
            Err(e) => {
                all_ok = false;
                eprintln!("runlog: {}: {e}", r.name);
                continue;
            }
        };
        let status = store.reader().sync_status(&r.name)?;
        all_ok &= summary.complete;
        if !args.json {
            print_summary(&r.name, &summary, &status);
        }
        summaries.push(serde_json::json!({"remote": r.name, "summary": summary, "rejections": status.rejections}));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
    }
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

fn print_summary(name: &str, s: &runlog_sync::agent::PassSummary, status: &runlog_core::RemoteStatus) {
    let state = if s.complete { "up to date" } else { "INCOMPLETE" };
    println!(
        "{name}: {state}: acknowledged through record {}; this pass {} applied, {} already held, {} rejected, {} blobs uploaded, {} requests",
        s.acked_through, s.applied, s.duplicates, s.rejected, s.blobs_uploaded, s.requests
    );
    if !s.complete {
        println!(
            "{name}: {} records still pending; last error: {}",
            s.pending,
            s.last_error.as_deref().unwrap_or("none")
        );
    }
    if !status.rejections.is_empty() {
        println!("{name}: {} records rejected (kept locally):", status.rejections.len());
        for r in status.rejections.iter().take(20) {
            println!("  record {} {} {:?}: {}: {}", r.seq, r.kind, r.name, r.code, r.reason);
        }
        if status.rejections.len() > 20 {
            println!("  ... and {} more (runlog status --json lists all)", status.rejections.len() - 20);
        }
    }
}
