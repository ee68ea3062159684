//! PostgreSQL for tests: `sidak_server_storage::testing`, shared with the storage crate's tests.

pub use sidak_server_storage::testing::*;
