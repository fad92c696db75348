//! `runlog serve`: the workspace server. Creates the data directory and a first workspace (printing its token) on
//! first start; limits come from a profile (`--profile azure`) and `--limit key=value` overrides. The web UI is
//! mounted at `/ui/` over the workspace a token opens ([`crate::ui::workspace`]), and MLflow's REST API at `/api/2.0/
//! mlflow` over the workspace a client's `MLFLOW_TRACKING_TOKEN` opens ([`crate::mlflow::workspace`]).

use super::Global;
use anyhow::Context;
use runlog_server::{AppState, BlobStore, PgStorage, SqliteStorage, Storage, Tls};
use runlog_sync::ServiceLimits;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `runlog serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the workspaces live.
    #[command(flatten)]
    pub at: StorageArgs,
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

/// Where a server's workspaces live: a data directory (SQLite and blobs), or PostgreSQL and object storage.
#[derive(Debug, Clone, clap::Args)]
pub struct StorageArgs {
    /// Directory holding the server's database and blobs (created if missing): the embedded default.
    #[arg(long, required_unless_present = "database", conflicts_with = "database")]
    pub data: Option<PathBuf>,
    /// PostgreSQL instead of a data directory: `postgres://USER[:PASSWORD]@HOST:PORT/DB` (`?sslmode=require` for
    /// TLS). Any number of servers can share one database and one blob store.
    #[arg(long, value_name = "URL", env = "RUNLOG_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// Where blobs (images, files) go: `s3://BUCKET/PREFIX`, `az://CONTAINER/PREFIX`, `gs://BUCKET/PREFIX` or
    /// `file:///PATH`, with credentials from the store's usual environment variables (AWS_*, AZURE_*, GOOGLE_*).
    /// Needed with --database; with --data, instead of DIR/blobs.
    #[arg(long, value_name = "URL")]
    pub blobs: Option<String>,
}

impl StorageArgs {
    /// Opens the storage (migrating its schema forward). `need_blobs`: a server needs the blob store; admin not.
    pub async fn open(&self, need_blobs: bool) -> anyhow::Result<Arc<dyn Storage>> {
        let blobs = match &self.blobs {
            Some(url) => Some(BlobStore::from_url(url)?),
            None => None,
        };
        if let Some(url) = &self.database {
            if need_blobs && blobs.is_none() {
                anyhow::bail!("--database needs --blobs URL (s3://, az://, gs:// or file:///) for images and files");
            }
            return Ok(Arc::new(PgStorage::connect(url, blobs).await?));
        }
        let Some(dir) = &self.data else { anyhow::bail!("give --data DIR or --database URL") };
        let opened = match blobs {
            Some(b) => SqliteStorage::open_with_blobs(dir, b),
            None => SqliteStorage::open(dir),
        };
        Ok(Arc::new(opened.with_context(|| format!("failed to open server data directory {}", dir.display()))?))
    }
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
    let rt = tokio::runtime::Runtime::new().context("failed to start the runtime")?;
    let storage = rt.block_on(args.at.open(true))?;
    if rt.block_on(storage.workspaces())?.is_empty() {
        // Two replicas starting at once on an empty database: one creates it, the other finds the name taken.
        match rt.block_on(storage.create_workspace("default")) {
            Ok(token) => {
                println!("created workspace default; its token (shown once, store it now):");
                println!("token {token}");
            }
            Err(e) if !rt.block_on(storage.workspaces())?.is_empty() => {
                eprintln!("runlog serve: another server created the first workspace ({e})");
            }
            Err(e) => return Err(e.into()),
        }
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
    println!("mlflow tracking uri {scheme}://{addr} (MLFLOW_TRACKING_TOKEN=<token>)");
    std::io::stdout().flush()?;
    let ui = crate::ui::workspace::router(storage.clone(), tls.is_some());
    let mlflow = crate::mlflow::workspace::routes(storage.clone(), limits);
    let app = runlog_server::router(AppState::new(storage, limits)).merge(ui).merge(mlflow);
    rt.block_on(runlog_server::serve_router(listener, app, tls)).context("the server stopped")?;
    Ok(ExitCode::SUCCESS)
}
