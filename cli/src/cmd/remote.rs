//! `runlog remote add|list|remove`: the remotes a store syncs to, as git's belong to a repository.
//!
//! A remote is recorded in the store it is added to (append-only, so a copied or bundled store keeps its remote
//! names), or user-wide with `--global`. Tokens never go into a store: they live in the user's credential file,
//! keyed by URL, mode 0600 (or come from `RUNLOG_TOKEN`).

use super::Global;
use anyhow::Context;
use runlog_sync::config::{self, Config, Credentials, RemoteConfig, Source};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `runlog remote`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub what: What,
}

/// Remote actions.
#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Add a remote to this store: `runlog remote add team http://host:8765 --token rlt_...`.
    Add {
        /// Its name (letters, digits, '-', '_', '.').
        name: String,
        /// Its URL.
        url: String,
        /// The workspace token (MLflow: a bearer token, `basic:USER:PASSWORD`, or nothing); kept in the user's
        /// credential file, never in the store.
        #[arg(long, env = "RUNLOG_TOKEN", hide_env_values = true, default_value = "")]
        token: String,
        /// A PEM certificate to trust (self-signed server).
        #[arg(long)]
        ca_cert: Option<PathBuf>,
        /// Add it for every store of this user instead of this store only.
        #[arg(long)]
        global: bool,
    },
    /// List the remotes that apply to this store and where each comes from (store, global, environment).
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Remove a remote from this store (or with --global, the user-wide one); the store's bookkeeping for it is kept.
    Remove {
        /// Its name.
        name: String,
        /// Remove the user-wide remote of that name.
        #[arg(long)]
        global: bool,
    },
}

/// Runs `runlog remote`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Add { name, url, token, ca_cert, global } => {
            if !(url.starts_with("http://") || url.starts_with("https://") || url.contains("+http")) {
                anyhow::bail!("remote url {url:?} must start with http:// or https:// (or mlflow+http(s)://)");
            }
            config::check_name(&name)?;
            let url = url.trim_end_matches('/').to_string();
            let ca_cert = ca_cert.map(|p| std::fs::canonicalize(&p).unwrap_or(p));
            let place = if global {
                let mut cfg = Config::load()?;
                let remote = RemoteConfig {
                    name: name.clone(),
                    url: url.clone(),
                    token: String::new(),
                    ca_cert,
                    source: Source::Global,
                };
                cfg.add(remote)?;
                cfg.save()?;
                config::config_file()?.display().to_string()
            } else {
                let path = g.store_path();
                let store = runlog_core::Store::open(&path)
                    .with_context(|| format!("failed to open store {}", path.display()))?;
                if store.reader().remotes()?.iter().any(|r| r.name == name) {
                    anyhow::bail!("this store has a remote named {name:?}; remove it first");
                }
                let ca = ca_cert.as_ref().map(|p| p.display().to_string());
                store.add_remote(&name, &url, ca.as_deref())?;
                path.display().to_string()
            };
            if !token.is_empty() {
                let mut creds = Credentials::load()?;
                creds.set(&url, &token);
                creds.save()?;
            }
            println!("added remote {name} ({place})");
        }
        What::List { json } => {
            let path = g.store_path();
            let reader = if path.exists() { Some(crate::common::open_reader(&path)?) } else { None };
            let remotes = config::remotes_for(reader.as_ref())?;
            if json {
                let rows: Vec<_> = remotes
                    .iter()
                    .map(|r| {
                        serde_json::json!({"name": r.name, "url": r.url, "source": r.source, "token": !r.token.is_empty()})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in &remotes {
                    let token = if r.token.is_empty() { "no token" } else { "token" };
                    println!("{}\t{}\t{}\t{token}", r.name, r.url, r.source);
                }
            }
        }
        What::Remove { name, global } => {
            if global {
                let mut cfg = Config::load()?;
                cfg.remove(&name)?;
                cfg.save()?;
            } else {
                let path = g.store_path();
                let store = crate::cmd::sync::open_store(g)?;
                store
                    .remove_remote(&name)
                    .with_context(|| format!("failed to remove a remote of {}", path.display()))?;
            }
            println!("removed remote {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
