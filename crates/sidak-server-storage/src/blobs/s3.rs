//! Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, Garage, moto), through the
//! `object_store` crate, so several server instances over one PostgreSQL database share them.
//!
//! A blob is the object `<prefix>/<hash>`. S3 makes an object visible only once its `PUT`
//! completed, so, as with files, no partial blob is ever readable. Credentials and the
//! endpoint come from [`S3Settings`] (by default the usual `AWS_*` environment variables).

use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use sidak_core::attachment::BlobHash;

use super::{BlobStore, BlobStream};
use crate::error::{StorageError, StorageResult};

/// How to reach an S3-compatible service. Unset values fall back to what `object_store`
/// reads from the environment itself (instance credentials, web identity, …).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// The service's URL (`AWS_ENDPOINT_URL`, or `AWS_ENDPOINT`); AWS itself when unset.
    pub endpoint: Option<String>,
    /// The region (`AWS_REGION`, or `AWS_DEFAULT_REGION`); `us-east-1` when unset.
    pub region: Option<String>,
    /// The access key id (`AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// The secret access key (`AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
    /// A session token (`AWS_SESSION_TOKEN`).
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secrets never reach a log.
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl S3Settings {
    /// The settings the usual `AWS_*` environment variables give.
    pub fn from_env() -> S3Settings {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        };
        S3Settings {
            endpoint: var(&["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]),
            region: var(&["AWS_REGION", "AWS_DEFAULT_REGION"]),
            access_key_id: var(&["AWS_ACCESS_KEY_ID"]),
            secret_access_key: var(&["AWS_SECRET_ACCESS_KEY"]),
            session_token: var(&["AWS_SESSION_TOKEN"]),
        }
    }
}

/// Blobs in a bucket under a prefix (see the module docs).
#[derive(Debug)]
pub struct S3Blobs {
    store: AmazonS3,
    bucket: String,
    prefix: String,
}

fn s3(what: &str, e: object_store::Error) -> StorageError {
    StorageError::Unavailable(format!("blob store: cannot {what}: {e}"))
}

impl S3Blobs {
    /// The blob store at `s3://bucket[/prefix]`, reached with `settings`. A plain `http://`
    /// endpoint is allowed (a MinIO or moto on the local network).
    pub fn open(url: &str, settings: &S3Settings) -> StorageResult<S3Blobs> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            StorageError::Unavailable(format!("{url:?} is not an s3://bucket/prefix URL"))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StorageError::Unavailable(format!(
                "{url:?} names no bucket: write s3://bucket/prefix"
            )));
        }
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(e) = &settings.endpoint {
            b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
        }
        b = b.with_region(settings.region.as_deref().unwrap_or("us-east-1"));
        if let Some(k) = &settings.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &settings.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        if let Some(t) = &settings.session_token {
            b = b.with_token(t);
        }
        let store = b
            .build()
            .map_err(|e| StorageError::Unavailable(format!("blob store {url}: {e}")))?;
        Ok(S3Blobs {
            store,
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    fn path_of(&self, hash: &BlobHash) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(hash.to_hex())
        } else {
            ObjectPath::from(format!("{}/{hash}", self.prefix))
        }
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    fn kind(&self) -> &'static str {
        "s3"
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    async fn put(&self, hash: &BlobHash, bytes: Bytes) -> StorageResult<()> {
        self.store
            .put(&self.path_of(hash), PutPayload::from(bytes))
            .await
            .map_err(|e| s3("store a blob", e))?;
        Ok(())
    }

    async fn get(
        &self,
        hash: &BlobHash,
        range: Option<Range<u64>>,
    ) -> StorageResult<Option<BlobStream>> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        match self.store.get_opts(&self.path_of(hash), options).await {
            Ok(r) => Ok(Some(Box::pin(
                r.into_stream().map_err(std::io::Error::other),
            ))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(s3("read a blob", e)),
        }
    }

    async fn exists(&self, hash: &BlobHash) -> StorageResult<bool> {
        match self.store.head(&self.path_of(hash)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(s3("look up a blob", e)),
        }
    }

    async fn delete(&self, hash: &BlobHash) -> StorageResult<()> {
        match self.store.delete(&self.path_of(hash)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(s3("delete a blob", e)),
        }
    }
}
