//! The backends every server test runs against, one suite for all: SQLite with a blob directory (the embedded
//! default), PostgreSQL with S3-compatible object storage (moto), and PostgreSQL with Azure Blob (Azurite). The
//! services come from scripts/services.sh; each test gets a fresh database and a fresh blob prefix.

#![allow(dead_code)]

use runlog_server::{BlobStore, PgStorage, SqliteStorage, Storage};
use runlog_testkit::services::{self, ObjectStore};
use std::sync::Arc;

/// A storage backend of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `--data DIR`.
    Sqlite,
    /// `--database postgres://... --blobs s3://...`.
    PgS3,
    /// `--database postgres://... --blobs az://...`.
    PgAzure,
}

/// An opened backend and what it lives in.
pub struct Opened {
    /// The storage.
    pub storage: Arc<dyn Storage>,
    /// The data directory (SQLite) or a scratch directory.
    pub dir: tempfile::TempDir,
    /// The database URL (PostgreSQL backends).
    pub database: Option<String>,
    /// The blob store URL (PostgreSQL backends).
    pub blobs: Option<String>,
}

impl Backend {
    /// A fresh, empty storage of this backend.
    pub async fn open(self) -> Opened {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database, blobs) = match self {
            Backend::Sqlite => (None, None),
            Backend::PgS3 => (Some(services::fresh_database().await), Some(services::blob_url(ObjectStore::S3))),
            Backend::PgAzure => (Some(services::fresh_database().await), Some(services::blob_url(ObjectStore::Azure))),
        };
        let storage = self.reopen(dir.path(), database.as_deref(), blobs.as_deref()).await;
        Opened { storage, dir, database, blobs }
    }

    /// Another handle on the same storage (another replica).
    pub async fn reopen(self, dir: &std::path::Path, database: Option<&str>, blobs: Option<&str>) -> Arc<dyn Storage> {
        match (database, blobs) {
            (Some(db), Some(b)) => {
                let blobs = BlobStore::from_url(b).expect("blob store");
                Arc::new(PgStorage::connect(db, Some(blobs)).await.expect("connect to PostgreSQL"))
            }
            _ => Arc::new(SqliteStorage::open(dir).expect("open SQLite storage")),
        }
    }
}

impl Opened {
    /// Another handle on the same storage, as a second replica opens it.
    pub async fn replica(&self, backend: Backend) -> Arc<dyn Storage> {
        backend.reopen(self.dir.path(), self.database.as_deref(), self.blobs.as_deref()).await
    }
}

/// Runs each named `async fn NAME(backend: Backend)` of the including file once per backend, as tests
/// `sqlite::NAME`, `postgres_s3::NAME` and `postgres_azure::NAME`.
#[macro_export]
macro_rules! each_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::support::Backend::Sqlite).await })*
        }
        mod postgres_s3 {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::support::Backend::PgS3).await })*
        }
        mod postgres_azure {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::support::Backend::PgAzure).await })*
        }
    };
}
