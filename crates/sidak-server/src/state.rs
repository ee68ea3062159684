//! What every handler shares: the storage backend and the configuration.

use std::sync::Arc;

use crate::config::Config;
use sidak_server_storage::Storage;
use sidak_server_storage::attachments::Blobs;
use sidak_server_storage::blobs::BlobStore;

/// Shared state of the server; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The storage backend.
    pub storage: Arc<dyn Storage>,
    /// The configuration.
    pub config: Arc<Config>,
    /// Attachments' bytes: uploads, downloads and their collection, over `storage` and a
    /// blob store.
    pub blobs: Blobs,
}

impl AppState {
    /// State over a storage backend, a blob store and a configuration.
    pub fn new(storage: Arc<dyn Storage>, blob_store: Arc<dyn BlobStore>, config: Config) -> Self {
        let blobs = Blobs::new(storage.clone(), blob_store)
            .with_max_bytes(config.max_blob_bytes)
            .with_grace_ms(u64::try_from(config.blob_grace.as_millis()).unwrap_or(u64::MAX));
        AppState {
            storage,
            config: Arc::new(config),
            blobs,
        }
    }

    /// The server's wall clock, ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        sidak_core::hlc::unix_ms(std::time::SystemTime::now())
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("storage", &self.storage.engine())
            .field("blobs", &self.blobs)
            .field("config", &self.config)
            .finish()
    }
}
