//! `runlog bundle export|import`: air-gapped transfer through content-addressed files.

use super::Global;
use super::sync::{Tuning, open_store, remotes};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `runlog bundle`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub what: What,
}

/// Bundle actions.
#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Write what a remote has not acknowledged (everything, without --remote) to one file in --out.
    Export {
        /// Export what this remote has not acknowledged (default: everything).
        #[arg(long)]
        remote: Option<String>,
        /// Export only records after this sequence number (e.g. the end of the previous export).
        #[arg(long, conflicts_with = "remote")]
        after: Option<i64>,
        /// Directory to write the bundle into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Upload bundles to a remote: any number of times, in any order.
    Import {
        /// Bundle files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The remote (default: the only configured one, or $RUNLOG_REMOTE).
        #[arg(long)]
        remote: Option<String>,
        /// Give up retrying after this many seconds.
        #[arg(long, default_value_t = 600)]
        max_wait_secs: u64,
        #[command(flatten)]
        tuning: Tuning,
    },
}

/// Runs `runlog bundle`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Export { remote, after, out } => {
            let store = open_store(g)?;
            let after = match (&remote, after) {
                (Some(r), _) => store.reader().acked_through(r)?.get(),
                (None, Some(a)) => a,
                (None, None) => 0,
            };
            let e = runlog_sync::bundle::export(&store, after, &out)?;
            match &e.path {
                Some(p) => println!(
                    "wrote {} ({} records {}..={}, {} blobs)",
                    p.display(),
                    e.records,
                    e.seq_lo,
                    e.seq_hi,
                    e.blobs
                ),
                None => println!("nothing to export after record {after}"),
            }
        }
        What::Import { files, remote, max_wait_secs, tuning } => {
            // The online machine may have no store: then only global and environment remotes apply.
            let path = g.store_path();
            let reader = if path.exists() { Some(crate::common::open_reader(&path)?) } else { None };
            let r = remotes(reader.as_ref(), remote.as_deref())?;
            if r.len() != 1 {
                anyhow::bail!("{} remotes are configured; choose one with --remote", r.len());
            }
            let cfg = &r[0];
            let rem = runlog_sync::remote::open(cfg)?;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let mut rejected = 0;
            for f in files {
                let b = runlog_sync::bundle::read(&f)?;
                let imported = rt.block_on(runlog_sync::bundle::import(
                    b,
                    rem.clone(),
                    tuning.options().backoff,
                    Duration::from_secs(max_wait_secs),
                ))?;
                println!(
                    "{}: {} applied, {} already held, {} rejected, {} blobs uploaded",
                    f.display(),
                    imported.applied,
                    imported.duplicates,
                    imported.rejected.len(),
                    imported.blobs_uploaded
                );
                for (seq, code, reason) in &imported.rejected {
                    println!("  record {seq}: {code}: {reason}");
                }
                rejected += imported.rejected.len();
            }
            let _ = rejected;
        }
    }
    Ok(ExitCode::SUCCESS)
}
