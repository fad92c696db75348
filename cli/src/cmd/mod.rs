//! One module per subcommand. Each has `Args` (clap) and `run(args, &Global) -> anyhow::Result<ExitCode>`.

pub mod admin;
pub mod agent;
pub mod backup;
pub mod bundle;
pub mod exec;
pub mod export;
pub mod import;
pub mod log;
pub mod ls;
pub mod metrics;
pub mod plot;
pub mod remote;
pub mod serve;
pub mod show;
pub mod status;
pub mod sync;
pub mod tensorboard;
pub mod ui;

use crate::args::{Cli, Command};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options every subcommand may use.
#[derive(Debug, Clone)]
pub struct Global {
    /// The store file named by --store or $RUNLOG_STORE, if any.
    pub store: Option<PathBuf>,
    /// Whether colour may be used on stdout (see [`crate::common::color_allowed`]: no --no-color, no NO_COLOR, a
    /// terminal or CLICOLOR_FORCE).
    pub color: bool,
}

impl Global {
    /// The store path: --store, $RUNLOG_STORE, else ./runlog.db.
    pub fn store_path(&self) -> PathBuf {
        self.store.clone().unwrap_or_else(runlog_core::store::default_path)
    }
}

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = Global { store: cli.store, color: crate::common::color_allowed(cli.no_color) };
    match cli.command {
        Command::Ls(a) => ls::run(a, &g),
        Command::Show(a) => show::run(a, &g),
        Command::Metrics(a) => metrics::run(a, &g),
        Command::Plot(a) => plot::run(a, &g),
        Command::Export(a) => export::run(a, &g),
        Command::Import(a) => import::run(a, &g),
        Command::Exec(a) => exec::run(a, &g),
        Command::Log(a) => log::run(a, &g),
        Command::Ui(a) => ui::run(a, &g),
        Command::Serve(a) => serve::run(a, &g),
        Command::Admin(a) => admin::run(a, &g),
        Command::Sync(a) => sync::run(a, &g),
        Command::Agent(a) => agent::run(a, &g),
        Command::Remote(a) => remote::run(a, &g),
        Command::Status(a) => status::run(a, &g),
        Command::Bundle(a) => bundle::run(a, &g),
        Command::Backup(a) => backup::run(a, &g),
    }
}
