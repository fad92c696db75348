//! `runlog remote add|list|remove`: the remotes in the user config file (tokens stay in that file, mode 0600).

use super::Global;
use runlog_sync::config::{Config, RemoteConfig, config_file};
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
    /// Add a remote: `runlog remote add team http://host:8765 --token rlt_...`.
    Add {
        /// Its name (letters, digits, '-', '_', '.').
        name: String,
        /// Its URL.
        url: String,
        /// The workspace token (MLflow: a bearer token, `basic:USER:PASSWORD`, or nothing).
        #[arg(long, env = "RUNLOG_TOKEN", hide_env_values = true, default_value = "")]
        token: String,
        /// A PEM certificate to trust (self-signed server).
        #[arg(long)]
        ca_cert: Option<PathBuf>,
    },
    /// List remotes (tokens hidden).
    List,
    /// Remove a remote (the store's bookkeeping for it is kept).
    Remove {
        /// Its name.
        name: String,
    },
}

/// Runs `runlog remote`.
pub fn run(args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    let mut cfg = Config::load()?;
    match args.what {
        What::Add { name, url, token, ca_cert } => {
            if !(url.starts_with("http://") || url.starts_with("https://") || url.contains("+http")) {
                anyhow::bail!("remote url {url:?} must start with http:// or https://");
            }
            let ca_cert = ca_cert.map(|p| std::fs::canonicalize(&p).unwrap_or(p));
            cfg.add(RemoteConfig { name: name.clone(), url, token, ca_cert })?;
            cfg.save()?;
            println!("added remote {name} ({})", config_file()?.display());
        }
        What::List => {
            for r in &cfg.remotes {
                println!("{}\t{}", r.name, r.url);
            }
        }
        What::Remove { name } => {
            cfg.remove(&name)?;
            cfg.save()?;
            println!("removed remote {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
