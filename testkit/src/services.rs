//! The storage services of the team backend's tests, as `scripts/services.sh` started them (scripts/test.sh does):
//! PostgreSQL at `RUNLOG_TEST_POSTGRES`, an S3-compatible server (moto) with the bucket `RUNLOG_TEST_S3`, and Azure
//! Blob (Azurite) with the container `RUNLOG_TEST_AZURE`, their credentials in the stores' usual variables. A test
//! that needs one and finds it missing fails with the way to start it: under CI a missing service is a failure.

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the team backend's tests need the services of scripts/services.sh \
             (scripts/test.sh starts them; or `eval \"$(bash scripts/services.sh start DIR)\"`)"
        )
    })
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{:016x}", std::process::id(), fastrand::u64(..))
}

/// A new, empty database on the test PostgreSQL server; its URL.
pub async fn fresh_database() -> String {
    let admin = var("RUNLOG_TEST_POSTGRES");
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL at {admin}: {e}"));
    let task = tokio::spawn(conn);
    let name = unique("runlog_test");
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    drop(client);
    let _ = task.await;
    match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("RUNLOG_TEST_POSTGRES={admin} has no database name"),
    }
}

/// [`fresh_database`] from synchronous code (outside a runtime).
pub fn fresh_database_blocking() -> String {
    crate::block_on(fresh_database())
}

/// An object store of the tests: the S3-compatible server or Azure Blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectStore {
    /// moto's S3 server: `s3://BUCKET/PREFIX`.
    S3,
    /// Azurite: `az://CONTAINER/PREFIX`.
    Azure,
}

/// A fresh prefix in a test object store, as a `--blobs` URL.
pub fn blob_url(store: ObjectStore) -> String {
    let base = match store {
        ObjectStore::S3 => var("RUNLOG_TEST_S3"),
        ObjectStore::Azure => var("RUNLOG_TEST_AZURE"),
    };
    format!("{}/{}", base.trim_end_matches('/'), unique("blobs"))
}
