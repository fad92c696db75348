//! `runlog admin`: workspaces and tokens of a server's data directory or database (works while servers run).

use super::Global;
use anyhow::Context;
use std::process::ExitCode;

/// Arguments of `runlog admin`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server's data directory or database.
    #[command(flatten)]
    pub at: super::serve::StorageArgs,
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
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("failed to start the runtime")?;
    let storage = rt.block_on(args.at.open(false))?;
    match args.what {
        What::CreateWorkspace { name } => println!("token {}", rt.block_on(storage.create_workspace(&name))?),
        What::CreateToken { workspace } => println!("token {}", rt.block_on(storage.create_token(&workspace))?),
        What::Workspaces => {
            println!("{:<24} {:>7} {:>7}", "workspace", "tokens", "runs");
            for w in rt.block_on(storage.workspaces())? {
                println!("{:<24} {:>7} {:>7}", w.name, w.tokens, w.runs);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
