//! [`BlobStore`]: where blob bytes live, through `object_store`: S3-compatible stores (`s3://bucket/prefix`), Azure
//! Blob (`az://container/prefix`), Google Cloud Storage (`gs://bucket/prefix`) or a local directory (`file:///path`,
//! and the `blobs/` directory of `runlog serve --data`). Each blob is the object `PREFIX/ab/HASH` (`ab` being the
//! hash's first two digits), stored once for every workspace; which workspace holds which blob is a row in the
//! database, written only after the bytes are in place.
//!
//! An upload is spooled to a local temporary file while it arrives (the router verifies its hash as it streams), then
//! put under its hash with a create-only put: "already exists" is success, since the same hash is the same bytes.

use super::{BlobUpload, WorkspaceId};
use crate::error::{Error, Result};
use async_trait::async_trait;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Blobs up to this size go up in one create-only put; larger ones as a multipart upload.
const SINGLE_PUT_BYTES: u64 = 16 << 20;
/// The part size of a multipart upload.
const PART_BYTES: usize = 8 << 20;
/// Parts of a multipart upload in flight at once (so at most this many parts are held in memory).
const PARTS_IN_FLIGHT: usize = 4;

/// Where blob bytes live (cheap to clone).
#[derive(Debug, Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    prefix: Key,
    url: String,
}

fn store_error(what: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
    Error::io(what, e)
}

impl BlobStore {
    /// The blob store of a URL (`s3://`, `az://` or `azure://`, `gs://`, `file:///`), with credentials and endpoints
    /// from each store's usual environment variables (`AWS_*`, `AZURE_*`, `GOOGLE_*`).
    pub fn from_url(url: &str) -> Result<BlobStore> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::Config(format!(
                "--blobs {url:?} is not a URL ({e}); use s3://BUCKET/PREFIX, az://CONTAINER/PREFIX, gs://BUCKET/PREFIX or file:///PATH"
            ))
        })?;
        let bad = |e: object_store::Error| Error::Config(format!("--blobs {url:?}: {e}"));
        let prefix = Key::from(parsed.path().trim_matches('/'));
        let store: Arc<dyn ObjectStore> = match parsed.scheme() {
            "s3" | "s3a" => {
                let mut b = object_store::aws::AmazonS3Builder::from_env().with_url(url);
                if std::env::var_os("AWS_CONDITIONAL_PUT").is_none() {
                    // A create-only put is `If-None-Match: *`, which S3 and the compatible stores understand.
                    b = b.with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch);
                }
                Arc::new(b.build().map_err(bad)?)
            }
            "az" | "azure" | "abfs" | "abfss" => {
                Arc::new(object_store::azure::MicrosoftAzureBuilder::from_env().with_url(url).build().map_err(bad)?)
            }
            "gs" => {
                Arc::new(object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(url).build().map_err(bad)?)
            }
            "file" => {
                let path = parsed
                    .to_file_path()
                    .map_err(|()| Error::Config(format!("--blobs {url:?} is not a local path")))?;
                return BlobStore::dir(&path);
            }
            other => {
                return Err(Error::Config(format!(
                    "--blobs {url:?}: unknown scheme {other:?}; use s3://, az://, gs:// or file:///"
                )));
            }
        };
        Ok(BlobStore { store, prefix, url: url.to_string() })
    }

    /// The blob store of a local directory (created if missing).
    pub fn dir(path: &std::path::Path) -> Result<BlobStore> {
        std::fs::create_dir_all(path).map_err(|e| Error::io(format!("create blob directory {}", path.display()), e))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(path)
            .map_err(|e| Error::Config(format!("blob directory {}: {e}", path.display())))?;
        Ok(BlobStore { store: Arc::new(fs), prefix: Key::default(), url: format!("file://{}", path.display()) })
    }

    /// The URL it was opened with (for messages).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn key(&self, hash: &str) -> Key {
        let parts = [&hash[..2], hash];
        parts.iter().fold(self.prefix.clone(), |k, p| k.join(*p))
    }

    /// The bytes of a blob; None if the store has no such object.
    pub async fn get(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        match self.store.get(&self.key(hash)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| store_error(format!("read blob {hash}"), e))?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(format!("read blob {hash} from {}", self.url), e)),
        }
    }

    /// Whether the store answers (a look-up of an object that is not there is an answer).
    pub async fn ping(&self) -> Result<()> {
        match self.store.head(&self.prefix.clone().join("health-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(format!("blob store {}", self.url), e)),
        }
    }

    /// Puts a spooled upload under its hash. Already there is a success (the same hash is the same bytes).
    async fn put(&self, hash: &str, mut file: tokio::fs::File, size: u64) -> Result<()> {
        let key = self.key(hash);
        let io = |e: std::io::Error| store_error("read the spooled blob", e);
        file.flush().await.map_err(io)?;
        file.seek(std::io::SeekFrom::Start(0)).await.map_err(io)?;
        if size <= SINGLE_PUT_BYTES {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes).await.map_err(io)?;
            let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
            return match self.store.put_opts(&key, PutPayload::from(bytes), opts).await {
                Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
                Err(e) => Err(store_error(format!("store blob {hash} in {}", self.url), e)),
            };
        }
        // Multipart uploads have no create-only mode: look first, then write (a race writes the same bytes twice).
        match self.store.head(&key).await {
            Ok(_) => return Ok(()),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_error(format!("look up blob {hash} in {}", self.url), e)),
        }
        let upload = self.store.put_multipart(&key).await.map_err(|e| store_error("start a multipart upload", e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0u8; PART_BYTES];
        loop {
            let n = file.read(&mut buf).await.map_err(io)?;
            if n == 0 {
                break;
            }
            w.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(|e| store_error(format!("upload blob {hash}"), e))?;
            w.write(&buf[..n]);
        }
        w.finish().await.map_err(|e| store_error(format!("finish the upload of blob {hash}"), e))?;
        Ok(())
    }
}

/// What records that a workspace holds a blob once its bytes are stored: the database side of an upload.
#[async_trait]
pub(crate) trait BlobRows: Send + Sync {
    /// Records that `ws` holds `hash` of `size` bytes (already recorded is a success) and counts the upload.
    async fn add_blob(&self, ws: WorkspaceId, hash: &str, size: u64) -> Result<()>;
}

/// An upload spooled to a temporary file, then put in a [`BlobStore`] and recorded by its [`BlobRows`].
pub(crate) struct Upload {
    blobs: BlobStore,
    rows: Arc<dyn BlobRows>,
    ws: WorkspaceId,
    file: tokio::fs::File,
    size: u64,
}

impl Upload {
    /// Starts an upload (the spool file is unnamed: dropped, it leaves nothing).
    pub(crate) fn begin(blobs: BlobStore, rows: Arc<dyn BlobRows>, ws: WorkspaceId) -> Result<Upload> {
        let file = tempfile::tempfile().map_err(|e| Error::io("create a blob upload file", e))?;
        Ok(Upload { blobs, rows, ws, file: tokio::fs::File::from_std(file), size: 0 })
    }
}

#[async_trait]
impl BlobUpload for Upload {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes).await.map_err(|e| Error::io("write blob", e))?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    async fn commit(self: Box<Self>, hash: &str) -> Result<()> {
        if !super::is_hex(hash, 64) {
            return Err(Error::Config(format!("blob hash {hash:?} is not 64 hexadecimal digits")));
        }
        let hash = hash.to_ascii_lowercase();
        let Upload { blobs, rows, ws, file, size } = *self;
        blobs.put(&hash, file, size).await?;
        rows.add_blob(ws, &hash, size).await
    }
}
