//! `runlog status`: per remote, what is pending, the last success and error, and every rejection with its reason.
//! Reads the store only (no network), so it answers at once.

use super::Global;
use anyhow::Context;
use std::process::ExitCode;

/// Arguments of `runlog status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this remote.
    #[arg(long)]
    pub remote: Option<String>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

fn when(ms: i64) -> String {
    crate::common::format_ago(ms, runlog_core::now_ms())
}

/// Runs `runlog status`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let path = g.store_path();
    let reader =
        runlog_core::Reader::open(&path).with_context(|| format!("failed to open store {}", path.display()))?;
    let mut names: Vec<String> = runlog_sync::config::remotes_for(Some(&reader))
        .map(|r| r.into_iter().map(|r| r.name).collect())
        .unwrap_or_default();
    for k in reader.synced_remotes()? {
        if !names.contains(&k) {
            names.push(k);
        }
    }
    if let Some(only) = &args.remote {
        names.retain(|n| n == only);
        if names.is_empty() {
            names.push(only.clone());
        }
    }
    let mut all = Vec::new();
    for n in &names {
        all.push(reader.sync_status(n)?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        println!("no remote configured and nothing synced yet ({} records in the store)", reader.max_seq()?);
    }
    for s in &all {
        println!("{}", crate::common::Paint { on: g.color }.bold(&s.remote));
        println!("  pending      {} records, {} blobs", s.pending_records, s.pending_blobs);
        println!("  acknowledged through record {} of {}", s.acked_through, s.max_seq);
        match &s.last_success {
            Some((at, m)) => println!("  last success {}: {m}", when(*at)),
            None => println!("  last success never"),
        }
        if let Some((at, m)) = &s.last_error {
            println!("  last error   {}: {m}", when(*at));
        }
        if s.rejections.is_empty() {
            println!("  rejections   none");
        } else {
            println!("  rejections   {} (kept locally)", s.rejections.len());
            for r in &s.rejections {
                println!("    record {} {} {:?}: {}: {}", r.seq, r.kind, r.name, r.code, r.reason);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
