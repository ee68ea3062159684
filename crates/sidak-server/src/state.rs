//! What every handler shares: the storage backend and the configuration.

use std::sync::Arc;

use crate::config::Config;
use sidak_server_storage::Storage;

/// Shared state of the server; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The storage backend.
    pub storage: Arc<dyn Storage>,
    /// The configuration.
    pub config: Arc<Config>,
}

impl AppState {
    /// State over a storage backend and a configuration.
    pub fn new(storage: Arc<dyn Storage>, config: Config) -> Self {
        AppState {
            storage,
            config: Arc::new(config),
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
            .field("config", &self.config)
            .finish()
    }
}
