//! Evidence bundles: a record's ops with the seals, keys and log links that vouch for them,
//! in one self-contained JSON document that anyone can check with no server (docs/evidence.md).
//!
//! - [`bundle`]: the document ([`Bundle`]) and the server's seal over it.
//! - [`verify`]: every check a bundle must pass, each reported passed or exactly what failed.
//! - `testing` (feature `testing`): a real sample bundle for tests.

pub mod bundle;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "testing")]
pub mod testing;
pub mod verify;

pub use bundle::{
    AttachmentEntry, Bundle, DecisionEntry, FORMAT, KeyEntry, OpEntry, RecordEntry, Root,
    SealEntry, bundle_digest, seal_bundle,
};
pub use verify::{BundleError, Check, Outcome, Verdict, read_bundle, verify};
