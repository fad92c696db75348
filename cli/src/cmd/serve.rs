//! `runlog serve`: the workspace server. Creates the data directory and a first workspace (printing its token) on
//! first start; limits come from a profile (`--profile azure`) and `--limit key=value` overrides. The web UI is
//! mounted at `/ui/` over the workspace a token opens ([`crate::ui::workspace`]).

use super::Global;
use anyhow::Context;
use runlog_server::{Admin, AppState, SqliteStorage, Storage, Tls};
use runlog_sync::ServiceLimits;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `runlog serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory holding the server's database and blobs (created if missing).
    #[arg(long)]
    pub data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8765")]
    pub listen: String,
    /// Limits profile: `default` or `azure` (Azure ML's published metric limits).
    #[arg(long, default_value = "default")]
    pub profile: String,
    /// Override one limit, e.g. `--limit max_requests_per_second=50` (repeatable; names as in GET /api/v1/limits).
    #[arg(long = "limit", value_name = "NAME=VALUE")]
    pub limits: Vec<String>,
    /// PEM certificate chain: serve HTTPS (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// The limits from a profile and overrides.
pub fn limits(profile: &str, overrides: &[String]) -> anyhow::Result<ServiceLimits> {
    let base = ServiceLimits::profile(profile)
        .with_context(|| format!("unknown limits profile {profile:?}; use default or azure"))?;
    let mut map = match serde_json::to_value(base)? {
        serde_json::Value::Object(m) => m,
        _ => anyhow::bail!("limits are not an object"),
    };
    for o in overrides {
        let (k, v) = o.split_once('=').with_context(|| format!("--limit {o:?} must be NAME=VALUE"))?;
        if !map.contains_key(k) {
            let names: Vec<&String> = map.keys().collect();
            anyhow::bail!("--limit {k:?} is not a limit; limits are {names:?}");
        }
        let n: u64 = v
            .trim()
            .replace('_', "")
            .parse()
            .with_context(|| format!("--limit {k}={v}: {v:?} is not a whole number"))?;
        map.insert(k.to_string(), n.into());
    }
    Ok(serde_json::from_value(serde_json::Value::Object(map))?)
}

/// Runs `runlog serve`.
pub fn run(args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    let limits = limits(&args.profile, &args.limits)?;
    let storage = Arc::new(
        SqliteStorage::open(&args.data)
            .with_context(|| format!("failed to open server data directory {}", args.data.display()))?,
    );
    if storage.workspaces()?.is_empty() {
        let token = storage.create_workspace("default")?;
        println!("created workspace default; its token (shown once, store it now):");
        println!("token {token}");
    }
    let listener =
        std::net::TcpListener::bind(&args.listen).with_context(|| format!("failed to listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(Tls { cert, key }),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{addr}");
    use std::io::Write;
    std::io::stdout().flush()?;
    println!("web ui at {scheme}://{addr}/ui/?token=<token> (the token moves into a cookie)");
    std::io::stdout().flush()?;
    let storage = storage as Arc<dyn Storage>;
    let ui = crate::ui::workspace::router(storage.clone(), tls.is_some());
    let app = runlog_server::router(AppState::new(storage, limits)).merge(ui);
    let rt = tokio::runtime::Runtime::new().context("failed to start the runtime")?;
    rt.block_on(runlog_server::serve_router(listener, app, tls)).context("the server stopped")?;
    Ok(ExitCode::SUCCESS)
}
