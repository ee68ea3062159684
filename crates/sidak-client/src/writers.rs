//! The names behind the device ids in stamps: `POST /v1/writers` (docs/protocol.md,
//! *Writers*), so an app shows "Andi Wijaya, 13:05 WITA" rather than a device id.

use sidak_core::protocol::{PROTOCOL_VERSION, Writer, WritersRequest, WritersResponse};
use sidak_store::Store;

use crate::engine::SyncEngine;
use crate::error::SyncError;
use crate::transport::Transport;

impl<T: Transport> SyncEngine<T> {
    /// The officers whose devices write in this device's area. `Ok(None)` when the server
    /// predates the endpoint (404): the app keeps the names it has.
    pub async fn writers(&self, store: &Store) -> Result<Option<Vec<Writer>>, SyncError> {
        let mut quiet = |_: &crate::report::Progress| {};
        let mut s = self.session(store, &mut quiet);
        if s.token.is_none() {
            return Err(SyncError::NotEnrolled);
        }
        let req = WritersRequest {
            protocol: PROTOCOL_VERSION,
        };
        match s.call::<_, WritersResponse>("/v1/writers", &req).await {
            Ok(a) => Ok(Some(a.writers)),
            // A server without the endpoint answers `not_found` (older sidak) or a bare 404.
            Err(SyncError::Refused {
                status: 404, code, ..
            }) if code.is_empty() || code == "not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }
}
