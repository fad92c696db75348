//! [`PgStorage`]: the team backend, metadata, records and packed scalar chunks in PostgreSQL, blob bytes in a
//! [`BlobStore`] (object storage), so that any number of `runlog serve` replicas serve the same workspaces.
//!
//! Replicas hold no state of their own: tokens are looked up by hash, the request allowance is a row per
//! workspace ([`rate`](super::rate)), and a batch applies in one transaction that first takes an advisory
//! transaction lock on its `(workspace, store)`, so two replicas applying the same records (however they are split)
//! read what the other wrote before planning, and every insert is `ON CONFLICT DO NOTHING` besides. No lock is held
//! across requests. The schema is versioned (table `runlog_schema`) and migrated forward on connect under an advisory
//! lock: of two replicas starting at once against an empty database, one applies and the other waits, then finds
//! the work done. A database of a newer version is refused.

use super::apply::{self, BatchRefusal, Held, Plan, Wanted, Write};
use super::blobs::{BlobRows, BlobStore, Upload};
use super::rate::Quota;
use super::{
    Admin, BlobUpload, Counter, ExperimentRow, Experiments, Ingest, MetricView, Page, Read, RecordBody, RunView,
    ScalarChunk, Stats, WorkspaceId, WorkspaceInfo, corrupt, decode_body, experiment_rows, is_hex, new_token, now_ms,
    token_hex,
};
use crate::error::{Error, Result};
use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use runlog_wire::points::{self, Point};
use runlog_wire::{Batch, BatchId, BatchReply, Rejection, ServiceLimits};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The PostgreSQL schema version this runlog writes.
pub const PG_SCHEMA_VERSION: i32 = 2;

/// Connections each replica keeps to the database (docs/operations.md sizes `max_connections` by it).
const POOL_SIZE: usize = 16;

/// The advisory lock key of migrations (the bytes of "runlog").
const MIGRATION_LOCK: i64 = 0x7275_6e6c_6f67;

/// Version 1. Chunk ids are an identity column; every key a resend can repeat is a primary key.
const SCHEMA_V1: &str = r#"
CREATE TABLE workspaces (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL);
CREATE TABLE tokens (
    hash TEXT PRIMARY KEY, workspace BIGINT NOT NULL REFERENCES workspaces(id), created_at BIGINT NOT NULL);
CREATE TABLE runs (
    ws BIGINT NOT NULL, id TEXT NOT NULL, store TEXT NOT NULL, experiment TEXT NOT NULL, name TEXT NOT NULL,
    parent TEXT, created_at BIGINT NOT NULL, PRIMARY KEY (ws, id));
CREATE INDEX runs_by_start ON runs(ws, created_at, id);
CREATE TABLE records (
    id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    ws BIGINT NOT NULL, store TEXT NOT NULL, seq BIGINT NOT NULL, part BIGINT NOT NULL, run TEXT NOT NULL,
    kind TEXT NOT NULL, name TEXT NOT NULL, at BIGINT NOT NULL, step BIGINT, n BIGINT NOT NULL, body BYTEA NOT NULL,
    step_hi BIGINT, vmin DOUBLE PRECISION, vmax DOUBLE PRECISION, vlast DOUBLE PRECISION, last_step BIGINT,
    PRIMARY KEY (ws, store, seq, part));
CREATE INDEX records_by_run ON records(ws, run, kind, name);
CREATE TABLE names (
    ws BIGINT NOT NULL, run TEXT NOT NULL, name TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (ws, run, name));
CREATE TABLE rejections (
    ws BIGINT NOT NULL, store TEXT NOT NULL, seq BIGINT NOT NULL, part BIGINT NOT NULL, code TEXT NOT NULL,
    reason TEXT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (ws, store, seq, part));
CREATE TABLE blobs (ws BIGINT NOT NULL, hash TEXT NOT NULL, size BIGINT NOT NULL, PRIMARY KEY (ws, hash));
CREATE TABLE batches (
    ws BIGINT NOT NULL, id TEXT NOT NULL, store TEXT NOT NULL, seq_lo BIGINT NOT NULL, seq_hi BIGINT NOT NULL,
    at BIGINT NOT NULL, PRIMARY KEY (ws, id));
CREATE INDEX batches_by_store ON batches(ws, store, seq_hi);
CREATE TABLE stats (ws BIGINT NOT NULL, key TEXT NOT NULL, value BIGINT NOT NULL, PRIMARY KEY (ws, key));
CREATE TABLE rate (ws BIGINT PRIMARY KEY, tat BIGINT NOT NULL);
"#;

/// Version 2: experiments as MLflow's API sees them (a stable id and tags); those of the runs already held are
/// added here, a later run's when its run record is applied.
const SCHEMA_V2: &str = r#"
CREATE TABLE experiments (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ws BIGINT NOT NULL, name TEXT NOT NULL,
    created_at BIGINT NOT NULL, UNIQUE (ws, name));
CREATE TABLE experiment_tags (
    ws BIGINT NOT NULL, experiment TEXT NOT NULL, key TEXT NOT NULL, value TEXT, at BIGINT NOT NULL,
    PRIMARY KEY (ws, experiment, key));
INSERT INTO experiments(ws, name, created_at)
    SELECT ws, experiment, min(created_at) FROM runs GROUP BY ws, experiment ORDER BY min(created_at);
"#;

/// The migrations, in order: `MIGRATIONS[k]` takes version `k` to `k + 1`.
const MIGRATIONS: [&str; PG_SCHEMA_VERSION as usize] = [SCHEMA_V1, SCHEMA_V2];

/// An error of the driver, with the database's own message and SQLSTATE when it sent one.
fn pg(what: &'static str) -> impl Fn(tokio_postgres::Error) -> Error {
    move |e| {
        let msg = match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => e.to_string(),
        };
        Error::io(format!("postgres: {what}"), msg)
    }
}

/// The statistics columns of a scalar chunk's row (`id, n, step, step_hi, vmin, vmax, vlast, last_step`).
fn chunk_of_row(r: &tokio_postgres::Row) -> ScalarChunk {
    ScalarChunk {
        id: r.get(0),
        count: r.get(1),
        step_lo: r.get::<_, Option<i64>>(2).unwrap_or_default(),
        step_hi: r.get::<_, Option<i64>>(3).unwrap_or_default(),
        min: r.get(4),
        max: r.get(5),
        last: r.get::<_, Option<f64>>(6).unwrap_or(f64::NAN),
        last_step: r.get::<_, Option<i64>>(7).unwrap_or_default(),
    }
}

/// The advisory lock key of a `(workspace, store)`: 64 bits of the blake3 of both.
fn store_lock(ws: WorkspaceId, store: &str) -> i64 {
    let mut h = blake3::Hasher::new();
    h.update(&ws.0.to_le_bytes());
    h.update(store.as_bytes());
    let b = h.finalize();
    let mut k = [0u8; 8];
    k.copy_from_slice(&b.as_bytes()[..8]);
    i64::from_le_bytes(k)
}

/// PostgreSQL plus a blob store. Cheap to clone (a pool of connections).
#[derive(Clone)]
pub struct PgStorage {
    pool: Pool,
    /// None for `runlog admin`, which touches no blob.
    blobs: Option<BlobStore>,
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorage").field("blobs", &self.blobs.as_ref().map(BlobStore::url)).finish_non_exhaustive()
    }
}

impl PgStorage {
    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST:PORT/DB[?sslmode=require]`; TLS through rustls with the
    /// webpki roots) with blobs in `blobs`, and migrates the schema forward to [`PG_SCHEMA_VERSION`]. A database of
    /// a newer version is refused. Without a blob store (`runlog admin`), blob uploads and reads are refused.
    pub async fn connect(url: &str, blobs: Option<BlobStore>) -> Result<PgStorage> {
        let cfg: tokio_postgres::Config = url
            .parse()
            .map_err(|e| Error::Config(format!("--database {:?} is not a PostgreSQL URL: {e}", redact(url))))?;
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS for PostgreSQL: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
        let mgr = Manager::from_config(cfg, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(mgr)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| Error::Config(format!("PostgreSQL pool for {}: {e}", redact(url))))?;
        let s = PgStorage { pool, blobs };
        s.migrate().await.map_err(|e| match e {
            Error::Io { context, message } => Error::Io { context: format!("{context} ({})", redact(url)), message },
            e => e,
        })?;
        Ok(s)
    }

    fn blobs(&self) -> Result<&BlobStore> {
        self.blobs
            .as_ref()
            .ok_or_else(|| Error::Config("this server was started without a blob store (--blobs)".into()))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| Error::io("postgres: connect", e))
    }

    async fn migrate(&self) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg("begin migration"))?;
        // Held until commit: a second replica starting now waits here, then finds the work done.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg("migration lock"))?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS runlog_schema (version INT NOT NULL)")
            .await
            .map_err(pg("schema version table"))?;
        let version: i32 = tx
            .query_opt("SELECT version FROM runlog_schema", &[])
            .await
            .map_err(pg("schema version"))?
            .map_or(0, |r| r.get(0));
        if version > PG_SCHEMA_VERSION {
            return Err(Error::Config(format!(
                "the database is runlog server schema version {version}, newer than this runlog's \
                 {PG_SCHEMA_VERSION}: upgrade runlog"
            )));
        }
        for step in &MIGRATIONS[version as usize..] {
            tx.batch_execute(step).await.map_err(pg("migrate"))?;
        }
        if version < PG_SCHEMA_VERSION {
            tx.execute("DELETE FROM runlog_schema", &[]).await.map_err(pg("schema version"))?;
            tx.execute("INSERT INTO runlog_schema(version) VALUES ($1)", &[&PG_SCHEMA_VERSION])
                .await
                .map_err(pg("schema version"))?;
        }
        tx.commit().await.map_err(pg("commit migration"))
    }

    /// The schema version of the database.
    pub async fn schema_version(&self) -> Result<i32> {
        let c = self.client().await?;
        let r = c.query_one("SELECT version FROM runlog_schema", &[]).await.map_err(pg("schema version"))?;
        Ok(r.get(0))
    }

    /// Runs with their status, params, tags and properties, in the order of `ids`, in two queries.
    async fn run_views(&self, c: &impl GenericClient, ws: WorkspaceId, ids: &[String]) -> Result<Vec<RunView>> {
        let heads = c
            .query(
                "SELECT id, store, experiment, name, parent, created_at FROM runs WHERE ws = $1 AND id = ANY($2)",
                &[&ws.0, &ids],
            )
            .await
            .map_err(pg("runs"))?;
        let mut views: HashMap<String, RunView> = heads
            .iter()
            .map(|r| {
                let id: String = r.get(0);
                (id.clone(), RunView::head(id, r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
            })
            .collect();
        let rows = c
            .query(
                "SELECT run, name, at, body, store, seq FROM records WHERE ws = $1 AND run = ANY($2)
                 AND kind IN ('status', 'param', 'tag', 'property') ORDER BY store, seq",
                &[&ws.0, &ids],
            )
            .await
            .map_err(pg("run records"))?;
        for r in &rows {
            let run: &str = r.get(0);
            let (store, seq): (&str, i64) = (r.get(4), r.get(5));
            if let Some(v) = views.get_mut(run) {
                v.apply(r.get(1), r.get(2), decode_body(store, seq, r.get(3))?);
            }
        }
        Ok(ids.iter().filter_map(|id| views.remove(id)).collect())
    }
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Reads what the database holds of the keys a batch touches (inside the batch's transaction, under its lock).
async fn held(tx: &impl GenericClient, ws: i64, store: &str, w: &Wanted) -> Result<Held> {
    let mut h = Held::default();
    let seqs: Vec<i64> = w.scalar_seqs.iter().copied().collect();
    let (rec_seqs, rec_parts): (Vec<i64>, Vec<i64>) = w.records.iter().map(|&(s, p)| (s, i64::from(p))).unzip();
    let (name_runs, name_names): (Vec<&str>, Vec<&str>) = w.names.iter().map(|(r, n)| (r.as_str(), n.as_str())).unzip();
    let runs: Vec<&str> = w.runs.iter().map(String::as_str).collect();
    let blobs: Vec<&str> = w.blobs.iter().map(String::as_str).collect();
    // Five reads, pipelined on the one connection.
    let p_parts: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&ws, &store, &seqs];
    let p_records: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [&ws, &store, &rec_seqs, &rec_parts];
    let p_names: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&ws, &name_runs, &name_names];
    let p_runs: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&ws, &runs];
    let p_blobs: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&ws, &blobs];
    let (parts, records, names, per_run, held_blobs) = tokio::try_join!(
        tx.query("SELECT seq, part, n FROM records WHERE ws = $1 AND store = $2 AND seq = ANY($3)", &p_parts),
        tx.query(
            "SELECT r.seq, r.part FROM records r JOIN UNNEST($3::bigint[], $4::bigint[]) AS k(seq, part)
             ON r.seq = k.seq AND r.part = k.part WHERE r.ws = $1 AND r.store = $2",
            &p_records,
        ),
        tx.query(
            "SELECT x.run, x.name, x.n FROM names x JOIN UNNEST($2::text[], $3::text[]) AS k(run, name)
             ON x.run = k.run AND x.name = k.name WHERE x.ws = $1",
            &p_names,
        ),
        tx.query("SELECT run, count(*) FROM names WHERE ws = $1 AND run = ANY($2) GROUP BY run", &p_runs),
        tx.query("SELECT hash FROM blobs WHERE ws = $1 AND hash = ANY($2)", &p_blobs),
    )
    .map_err(pg("read what the batch touches"))?;
    for &seq in &seqs {
        h.parts.insert(seq, Vec::new());
    }
    for r in &parts {
        let (seq, p, n): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
        h.parts.entry(seq).or_default().push((p, p + n));
    }
    for r in &records {
        let part: i64 = r.get(1);
        h.records.insert((r.get(0), part as u32));
    }
    for r in &names {
        h.name_rows.insert((r.get(0), r.get(1)), r.get::<_, i64>(2) as u64);
    }
    for run in &w.runs {
        h.names_per_run.insert(run.clone(), 0);
    }
    for r in &per_run {
        h.names_per_run.insert(r.get(0), r.get::<_, i64>(1) as u64);
    }
    for r in &held_blobs {
        h.blobs.insert(r.get(0));
    }
    Ok(h)
}

/// The columns of the records a plan inserts, one array each (one `INSERT ... SELECT FROM UNNEST` for them all).
#[derive(Default)]
struct RecordColumns<'a> {
    seq: Vec<i64>,
    part: Vec<i64>,
    run: Vec<&'a str>,
    kind: Vec<&'static str>,
    name: Vec<&'a str>,
    at: Vec<i64>,
    step: Vec<Option<i64>>,
    n: Vec<i64>,
    body: Vec<&'a [u8]>,
    step_hi: Vec<Option<i64>>,
    vmin: Vec<Option<f64>>,
    vmax: Vec<Option<f64>>,
    vlast: Vec<Option<f64>>,
    last_step: Vec<Option<i64>>,
}

/// Writes a plan (inside the batch's transaction): one statement per table. Returns how many records went in.
async fn write(tx: &impl GenericClient, ws: i64, store: &str, id: &BatchId, bytes: usize, plan: &Plan) -> Result<u64> {
    let now = now_ms();
    let mut recs = RecordColumns::default();
    let mut runs: BTreeMap<&str, (&str, &str, Option<&str>, i64)> = BTreeMap::new();
    let mut names: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let mut rejections: BTreeMap<(i64, u32), &Rejection> = BTreeMap::new();
    for w in &plan.writes {
        match w {
            Write::Run { run, experiment, name, parent, at } => {
                runs.entry(run).or_insert((experiment, name, parent.as_deref(), *at));
            }
            Write::Record(r) => {
                let s = r.stats.as_ref();
                recs.seq.push(r.seq);
                recs.part.push(r.part);
                recs.run.push(&r.run);
                recs.kind.push(r.kind);
                recs.name.push(&r.name);
                recs.at.push(r.at);
                recs.step.push(r.step);
                recs.n.push(r.n);
                recs.body.push(&r.body);
                recs.step_hi.push(s.map(|s| s.step_hi));
                recs.vmin.push(s.and_then(|s| s.min));
                recs.vmax.push(s.and_then(|s| s.max));
                recs.vlast.push(s.map(|s| s.last));
                recs.last_step.push(s.map(|s| s.last_step));
            }
            Write::Names { run, name, rows } => *names.entry((run, name)).or_default() += *rows as i64,
            Write::Rejection(r) => {
                rejections.insert((r.seq, r.part), r);
            }
        }
    }
    if !runs.is_empty() {
        let (mut id, mut exp, mut name, mut parent, mut at) = (vec![], vec![], vec![], vec![], vec![]);
        for (r, (e, n, p, a)) in &runs {
            id.push(*r);
            exp.push(*e);
            name.push(*n);
            parent.push(*p);
            at.push(*a);
        }
        tx.execute(
            "INSERT INTO runs(ws, id, store, experiment, name, parent, created_at)
             SELECT $1, t.id, $2, t.experiment, t.name, t.parent, t.created_at
             FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
                 AS t(id, experiment, name, parent, created_at)
             ON CONFLICT DO NOTHING",
            &[&ws, &store, &id, &exp, &name, &parent, &at],
        )
        .await
        .map_err(pg("insert runs"))?;
        // A run's experiment exists from its first run on (MLflow's API lists it with a stable id).
        tx.execute(
            "INSERT INTO experiments(ws, name, created_at)
             SELECT $1, t.experiment, min(t.created_at) FROM UNNEST($2::text[], $3::bigint[]) AS t(experiment, created_at)
             GROUP BY t.experiment
             ON CONFLICT (ws, name) DO NOTHING",
            &[&ws, &exp, &at],
        )
        .await
        .map_err(pg("insert experiments"))?;
    }
    let inserted = if recs.seq.is_empty() {
        0
    } else {
        tx.execute(
            "INSERT INTO records(ws, store, seq, part, run, kind, name, at, step, n, body,
                                 step_hi, vmin, vmax, vlast, last_step)
             SELECT $1, $2, * FROM UNNEST($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                 $8::bigint[], $9::bigint[], $10::bigint[], $11::bytea[], $12::bigint[], $13::float8[],
                 $14::float8[], $15::float8[], $16::bigint[])
             ON CONFLICT DO NOTHING",
            &[
                &ws,
                &store,
                &recs.seq,
                &recs.part,
                &recs.run,
                &recs.kind,
                &recs.name,
                &recs.at,
                &recs.step,
                &recs.n,
                &recs.body,
                &recs.step_hi,
                &recs.vmin,
                &recs.vmax,
                &recs.vlast,
                &recs.last_step,
            ],
        )
        .await
        .map_err(pg("insert records"))?
    };
    if !names.is_empty() {
        let (runs, (keys, rows)): (Vec<&str>, (Vec<&str>, Vec<i64>)) =
            names.iter().map(|((r, n), k)| (*r, (*n, *k))).unzip();
        tx.execute(
            "INSERT INTO names(ws, run, name, n) SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::bigint[])
             ON CONFLICT (ws, run, name) DO UPDATE SET n = names.n + excluded.n",
            &[&ws, &runs, &keys, &rows],
        )
        .await
        .map_err(pg("names"))?;
    }
    if !rejections.is_empty() {
        let (mut seq, mut part, mut code, mut reason) = (vec![], vec![], vec![], vec![]);
        for r in rejections.values() {
            seq.push(r.seq);
            part.push(i64::from(r.part));
            code.push(r.code.as_str());
            reason.push(r.reason.as_str());
        }
        tx.execute(
            "INSERT INTO rejections(ws, store, seq, part, code, reason, at)
             SELECT $1, $2, *, $7 FROM UNNEST($3::bigint[], $4::bigint[], $5::text[], $6::text[])
             ON CONFLICT (ws, store, seq, part) DO UPDATE SET code = excluded.code, reason = excluded.reason,
                 at = excluded.at",
            &[&ws, &store, &seq, &part, &code, &reason, &now],
        )
        .await
        .map_err(pg("rejections"))?;
    }
    let (lo, hi) = plan.seq_range;
    tx.execute(
        "INSERT INTO batches(ws, id, store, seq_lo, seq_hi, at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        &[&ws, &id.as_str(), &store, &lo, &hi, &now],
    )
    .await
    .map_err(pg("batches"))?;
    let reply = &plan.reply;
    let keys =
        ["batches", "records_applied", "records_duplicate", "records_rejected", "max_batch_rows", "max_batch_bytes"];
    let values =
        [1, reply.applied as i64, reply.duplicates as i64, reply.rejected.len() as i64, plan.rows as i64, bytes as i64];
    tx.execute(
        "INSERT INTO stats(ws, key, value) SELECT $1, * FROM UNNEST($2::text[], $3::bigint[])
         ON CONFLICT (ws, key) DO UPDATE SET value = CASE WHEN stats.key IN ('max_batch_rows', 'max_batch_bytes')
             THEN greatest(stats.value, excluded.value) ELSE stats.value + excluded.value END",
        &[&ws, &keys.as_slice(), &values.as_slice()],
    )
    .await
    .map_err(pg("stats"))?;
    Ok(inserted)
}

#[async_trait]
impl Admin for PgStorage {
    async fn workspace_for_token(&self, token: &str) -> Result<Option<WorkspaceId>> {
        let c = self.client().await?;
        let st = c.prepare_cached("SELECT workspace FROM tokens WHERE hash = $1").await.map_err(pg("find token"))?;
        let row = c.query_opt(&st, &[&token_hex(token)]).await.map_err(pg("find token"))?;
        Ok(row.map(|r| WorkspaceId(r.get(0))))
    }

    async fn create_workspace(&self, name: &str) -> Result<String> {
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(Error::Config(format!(
                "workspace name {name:?} must be 1 to 100 characters without control characters"
            )));
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg("begin"))?;
        let ws: i64 = tx
            .query_one("INSERT INTO workspaces(name, created_at) VALUES ($1, $2) RETURNING id", &[&name, &now_ms()])
            .await
            .map_err(|e| Error::Config(format!("cannot create workspace {name:?}: {}", pg("insert")(e))))?
            .get(0);
        let token = insert_token(&tx, ws).await?;
        tx.commit().await.map_err(pg("commit"))?;
        Ok(token)
    }

    async fn create_token(&self, workspace: &str) -> Result<String> {
        let c = self.client().await?;
        let ws: i64 = c
            .query_opt("SELECT id FROM workspaces WHERE name = $1", &[&workspace])
            .await
            .map_err(pg("find workspace"))?
            .ok_or_else(|| Error::Config(format!("no workspace named {workspace:?}")))?
            .get(0);
        insert_token(&c, ws).await
    }

    async fn workspaces(&self) -> Result<Vec<WorkspaceInfo>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT w.id, w.name, (SELECT count(*) FROM tokens t WHERE t.workspace = w.id),
                        (SELECT count(*) FROM runs r WHERE r.ws = w.id) FROM workspaces w ORDER BY w.id",
                &[],
            )
            .await
            .map_err(pg("list workspaces"))?;
        Ok(rows
            .iter()
            .map(|r| WorkspaceInfo {
                id: r.get(0),
                name: r.get(1),
                tokens: r.get::<_, i64>(2) as u64,
                runs: r.get::<_, i64>(3) as u64,
            })
            .collect())
    }

    async fn stats(&self, ws: WorkspaceId) -> Result<Stats> {
        let c = self.client().await?;
        let rows = c.query("SELECT key, value FROM stats WHERE ws = $1", &[&ws.0]).await.map_err(pg("stats"))?;
        let map: serde_json::Map<String, serde_json::Value> =
            rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1).into())).collect();
        serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| Error::Corrupt(format!("server stats of workspace {}: {e}", ws.0)))
    }

    async fn bump(&self, ws: WorkspaceId, counter: Counter, by: u64) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO stats(ws, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (ws, key) DO UPDATE SET value = stats.value + excluded.value",
            &[&ws.0, &counter.key(), &(by as i64)],
        )
        .await
        .map_err(pg("stats"))?;
        Ok(())
    }

    async fn take_request(&self, ws: WorkspaceId, quota: Quota) -> Result<std::result::Result<(), u64>> {
        // The GCRA of `rate::take` as one statement on the database's clock (replicas' clocks may differ): the row
        // is updated only if the request is admitted; no row back means the bucket is spent.
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS t)
                 INSERT INTO rate(ws, tat) SELECT $1, now.t + $2 FROM now
                 ON CONFLICT (ws) DO UPDATE SET tat = greatest(rate.tat, (SELECT t FROM now)) + $2
                     WHERE greatest(rate.tat, (SELECT t FROM now)) - $3 <= (SELECT t FROM now)
                 RETURNING tat",
            )
            .await
            .map_err(pg("rate"))?;
        let (period, tolerance) = (quota.period_us(), quota.tolerance_us());
        if c.query_opt(&st, &[&ws.0, &period, &tolerance]).await.map_err(pg("rate"))?.is_some() {
            return Ok(Ok(()));
        }
        let wait: i64 = c
            .query_one(
                "SELECT greatest(tat - $2 - (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, 1)
                 FROM rate WHERE ws = $1",
                &[&ws.0, &tolerance],
            )
            .await
            .map_err(pg("rate"))?
            .get(0);
        Ok(Err(wait as u64))
    }

    async fn health(&self) -> Vec<(&'static str, Result<()>)> {
        let db = match self.client().await {
            Ok(c) => c.query_one("SELECT 1", &[]).await.map(|_| ()).map_err(pg("health")),
            Err(e) => Err(e),
        };
        let blobs = match self.blobs() {
            Ok(b) => b.ping().await,
            Err(e) => Err(e),
        };
        vec![("database", db), ("blobs", blobs)]
    }
}

async fn insert_token(c: &impl GenericClient, ws: i64) -> Result<String> {
    let token = new_token();
    c.execute(
        "INSERT INTO tokens(hash, workspace, created_at) VALUES ($1, $2, $3)",
        &[&token_hex(&token), &ws, &now_ms()],
    )
    .await
    .map_err(pg("insert token"))?;
    Ok(token)
}

#[async_trait]
impl Experiments for PgStorage {
    async fn experiments(&self, ws: WorkspaceId) -> Result<Vec<ExperimentRow>> {
        let c = self.client().await?;
        let rows = c
            .query("SELECT id, name, created_at FROM experiments WHERE ws = $1 ORDER BY id", &[&ws.0])
            .await
            .map_err(pg("experiments"))?;
        let tags = c
            .query("SELECT experiment, key, value, at FROM experiment_tags WHERE ws = $1", &[&ws.0])
            .await
            .map_err(pg("experiment tags"))?;
        Ok(experiment_rows(
            rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect(),
            tags.iter().map(|t| (t.get(0), t.get(1), t.get(2), t.get(3))).collect(),
        ))
    }

    async fn create_experiment(&self, ws: WorkspaceId, name: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO experiments(ws, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (ws, name) DO NOTHING",
            &[&ws.0, &name, &now_ms()],
        )
        .await
        .map_err(pg("create experiment"))?;
        Ok(())
    }

    async fn set_experiment_tag(&self, ws: WorkspaceId, name: &str, key: &str, value: Option<&str>) -> Result<()> {
        self.create_experiment(ws, name).await?;
        let c = self.client().await?;
        c.execute(
            "INSERT INTO experiment_tags(ws, experiment, key, value, at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (ws, experiment, key) DO UPDATE SET value = excluded.value, at = excluded.at",
            &[&ws.0, &name, &key, &value, &now_ms()],
        )
        .await
        .map_err(pg("experiment tag"))?;
        Ok(())
    }
}

#[async_trait]
impl Ingest for PgStorage {
    async fn apply_batch(
        &self,
        ws: WorkspaceId,
        id: BatchId,
        bytes: usize,
        batch: Batch,
        limits: ServiceLimits,
    ) -> Result<std::result::Result<BatchReply, BatchRefusal>> {
        let checked = match apply::validate(&batch, &limits) {
            Ok(c) => c,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let store = batch.store.to_ascii_lowercase();
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg("begin batch"))?;
        // Serialises batches of one store across replicas for this transaction only: the second reads what the
        // first wrote, so a record split differently by two senders lands once.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&store_lock(ws, &store)]).await.map_err(pg("batch lock"))?;
        let held = held(&tx, ws.0, &store, &apply::wanted(&checked)).await?;
        let mut plan = match apply::plan(&id, &batch, &checked, &held, &limits)? {
            Ok(p) => p,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let planned = plan.writes.iter().filter(|w| matches!(w, Write::Record(_))).count() as u64;
        let inserted = write(&tx, ws.0, &store, &id, bytes, &plan).await?;
        tx.commit().await.map_err(pg("commit batch"))?;
        // Under the lock every planned record is new; if one was not, it was a duplicate, not an application.
        let lost = planned.saturating_sub(inserted).min(plan.reply.applied);
        plan.reply.applied -= lost;
        plan.reply.duplicates += lost;
        Ok(Ok(plan.reply))
    }

    async fn missing_blobs(&self, ws: WorkspaceId, hashes: Vec<String>) -> Result<Vec<String>> {
        let hashes: Vec<String> = hashes.iter().map(|h| h.to_ascii_lowercase()).collect();
        let c = self.client().await?;
        let rows = c
            .query("SELECT hash FROM blobs WHERE ws = $1 AND hash = ANY($2)", &[&ws.0, &hashes])
            .await
            .map_err(pg("blobs"))?;
        let held: std::collections::HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        Ok(hashes.into_iter().filter(|h| !held.contains(h)).collect())
    }

    async fn begin_blob(&self, ws: WorkspaceId) -> Result<Box<dyn BlobUpload>> {
        Ok(Box::new(Upload::begin(self.blobs()?.clone(), Arc::new(self.clone()), ws)?))
    }

    async fn rejections(&self, ws: WorkspaceId, store: &str) -> Result<Vec<Rejection>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT seq, part, code, reason FROM rejections WHERE ws = $1 AND store = $2 ORDER BY seq, part",
                &[&ws.0, &store],
            )
            .await
            .map_err(pg("rejections"))?;
        Ok(rows
            .iter()
            .map(|r| Rejection { seq: r.get(0), part: r.get::<_, i64>(1) as u32, code: r.get(2), reason: r.get(3) })
            .collect())
    }

    async fn position(&self, ws: WorkspaceId, store: &str) -> Result<i64> {
        let c = self.client().await?;
        let r = c
            .query_one(
                "SELECT coalesce(max(seq_hi), 0)::bigint FROM batches WHERE ws = $1 AND store = $2",
                &[&ws.0, &store],
            )
            .await
            .map_err(pg("position"))?;
        Ok(r.get(0))
    }
}

#[async_trait]
impl BlobRows for PgStorage {
    async fn add_blob(&self, ws: WorkspaceId, hash: &str, size: u64) -> Result<()> {
        let c = self.client().await?;
        let added = c
            .execute(
                "INSERT INTO blobs(ws, hash, size) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&ws.0, &hash, &(size as i64)],
            )
            .await
            .map_err(pg("blobs"))?;
        c.execute(
            "INSERT INTO stats(ws, key, value) VALUES ($1, 'blob_uploads', 1), ($1, 'blobs_stored', $2)
             ON CONFLICT (ws, key) DO UPDATE SET value = stats.value + excluded.value",
            &[&ws.0, &(added as i64)],
        )
        .await
        .map_err(pg("stats"))?;
        Ok(())
    }
}

#[async_trait]
impl Read for PgStorage {
    async fn runs(&self, ws: WorkspaceId) -> Result<Vec<RunView>> {
        let c = self.client().await?;
        let ids: Vec<String> = c
            .query("SELECT id FROM runs WHERE ws = $1 ORDER BY created_at, id", &[&ws.0])
            .await
            .map_err(pg("runs"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        self.run_views(&c, ws, &ids).await
    }

    async fn runs_page(&self, ws: WorkspaceId, page: Page) -> Result<Vec<RunView>> {
        let c = self.client().await?;
        let limit = page.limit as i64;
        let ids: Vec<String> = c
            .query(
                "SELECT id FROM runs WHERE ws = $1
                 AND ($2::text IS NULL OR (created_at, id) > (SELECT created_at, id FROM runs WHERE ws = $1 AND id = $2))
                 ORDER BY created_at, id LIMIT $3",
                &[&ws.0, &page.after, &limit],
            )
            .await
            .map_err(pg("runs"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        self.run_views(&c, ws, &ids).await
    }

    async fn run(&self, ws: WorkspaceId, id: &str) -> Result<Option<RunView>> {
        let c = self.client().await?;
        Ok(self.run_views(&c, ws, &[id.to_string()]).await?.pop())
    }

    async fn metrics(&self, ws: WorkspaceId, run: &str) -> Result<Vec<MetricView>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT name, kind, sum(n)::bigint FROM records WHERE ws = $1 AND run = $2
                 AND kind IN ('scalars', 'row', 'table', 'image', 'text', 'chart') GROUP BY name, kind ORDER BY name, kind",
                &[&ws.0, &run],
            )
            .await
            .map_err(pg("metrics"))?;
        Ok(rows
            .iter()
            .map(|r| MetricView { name: r.get(0), kind: r.get(1), count: r.get::<_, i64>(2) as u64 })
            .collect())
    }

    async fn series(&self, ws: WorkspaceId, run: &str, name: &str) -> Result<Vec<Point>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT body FROM records WHERE ws = $1 AND run = $2 AND kind = 'scalars' AND name = $3
                 ORDER BY store, seq, part",
            )
            .await
            .map_err(pg("series"))?;
        let rows = c.query(&st, &[&ws.0, &run, &name]).await.map_err(pg("series"))?;
        let mut out = Vec::new();
        for r in &rows {
            let b: &[u8] = r.get(0);
            out.extend(points::decode(b).map_err(|e| corrupt(&format!("a scalar record of {run:?} {name:?}"), e))?);
        }
        out.sort_by_key(|p| p.step);
        Ok(out)
    }

    async fn scalar_chunks(&self, ws: WorkspaceId, run: &str, name: &str) -> Result<Vec<ScalarChunk>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT id, n, step, step_hi, vmin, vmax, vlast, last_step FROM records
                 WHERE ws = $1 AND run = $2 AND kind = 'scalars' AND name = $3 ORDER BY store, seq, part",
                &[&ws.0, &run, &name],
            )
            .await
            .map_err(pg("scalar chunks"))?;
        Ok(rows.iter().map(chunk_of_row).collect())
    }

    async fn chunk_points(&self, ws: WorkspaceId, chunk: i64) -> Result<Option<Vec<Point>>> {
        let c = self.client().await?;
        let row = c
            .query_opt("SELECT body FROM records WHERE id = $1 AND ws = $2 AND kind = 'scalars'", &[&chunk, &ws.0])
            .await
            .map_err(pg("chunk"))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(points::decode(row.get(0)).map_err(|e| corrupt(&format!("scalar record {chunk}"), e))?))
    }

    async fn records(&self, ws: WorkspaceId, run: &str, kind: &str, name: Option<&str>) -> Result<Vec<RecordBody>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT store, seq, name, step, at, body FROM records WHERE ws = $1 AND run = $2 AND kind = $3
                 AND ($4::text IS NULL OR name = $4) ORDER BY store, seq",
                &[&ws.0, &run, &kind, &name],
            )
            .await
            .map_err(pg("records"))?;
        rows.iter()
            .map(|r| {
                let (store, seq): (String, i64) = (r.get(0), r.get(1));
                let body = decode_body(&store, seq, r.get(5))?;
                Ok(RecordBody { store, seq, name: r.get(2), step: r.get(3), at: r.get(4), body })
            })
            .collect()
    }

    async fn blob(&self, ws: WorkspaceId, hash: &str) -> Result<Option<Vec<u8>>> {
        if !is_hex(hash, 64) {
            return Ok(None);
        }
        let hash = hash.to_ascii_lowercase();
        let c = self.client().await?;
        let held = c
            .query_opt("SELECT 1 FROM blobs WHERE ws = $1 AND hash = $2", &[&ws.0, &hash])
            .await
            .map_err(pg("blobs"))?;
        drop(c);
        if held.is_none() {
            return Ok(None);
        }
        self.blobs()?.get(&hash).await
    }
}
