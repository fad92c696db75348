//! `runlog admin`: workspaces and tokens of a server's data directory (works while the server runs).

use super::Global;
use anyhow::Context;
use runlog_server::{Admin, SqliteStorage};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `runlog admin`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server's data directory.
    #[arg(long)]
    pub data: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub what: What,
}

/// Admin actions.
#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Create a workspace and print its first token.
    CreateWorkspace {
        /// Its name.
        name: String,
    },
    /// Print a new token for a workspace.
    CreateToken {
        /// The workspace's name.
        workspace: String,
    },
    /// List workspaces.
    Workspaces,
}

/// Runs `runlog admin`.
pub fn run(args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    let storage = SqliteStorage::open(&args.data)
        .with_context(|| format!("failed to open server data directory {}", args.data.display()))?;
    match args.what {
        What::CreateWorkspace { name } => println!("token {}", storage.create_workspace(&name)?),
        What::CreateToken { workspace } => println!("token {}", storage.create_token(&workspace)?),
        What::Workspaces => {
            println!("{:<24} {:>7} {:>7}", "workspace", "tokens", "runs");
            for w in storage.workspaces()? {
                println!("{:<24} {:>7} {:>7}", w.name, w.tokens, w.runs);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
