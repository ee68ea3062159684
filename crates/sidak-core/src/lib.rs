//! sidak's domain, free of I/O: records as CRDTs, clocks, schemas, validation and the change format.
//!
//! - [`hlc`]: hybrid logical clocks that stamp every edit and never go backwards.
//! - [`attachment`]: photos, signatures and documents referenced by content hash.
//! - [`schema`]: the kinds of record (company, visit, finding, worker) and their fields, as data.
//! - [`record`]: a record's merged state, one register per field, and the merge engine.
//! - [`edit`]: turning a local edit into an [`Op`] with the causal context it needs.
//! - [`validate`]: NIK, region codes, phones, dates, enums, ranges and per-kind rules.
//! - [`canon`]: canonical JSON, the text digests and hashes are made of.
//! - [`chain`]: device-signed chains of ops, the server log's chain and the seals over them.
//! - [`wire`]: the versioned JSON form of ops and record states (see `proto/`).
//! - [`protocol`]: the sync protocol v1 messages (enroll, push, pull, sync, errors).
//! - [`region`]: the Kemendagri region reference shipped in `data/`.
//! - [`views`]: typed read-only structs read from records.
//!
//! Nothing here reads a file, a socket or the wall clock: callers pass time in.

pub mod attachment;
pub mod canon;
pub mod chain;
pub mod edit;
#[doc(hidden)]
pub mod fuzzing;
pub mod hlc;
pub mod ids;
pub mod op;
pub mod protocol;
pub mod record;
pub mod region;
pub mod register;
pub mod schema;
pub mod validate;
mod value;
pub mod views;
pub mod wire;

pub use edit::Edit;
pub use hlc::{Hlc, HlcClock};
pub use ids::{DeviceId, RecordId};
pub use op::{Action, Change, Op};
pub use record::{ApplyError, Conflict, Record, Stamped};
pub use schema::{Kind, Register};
pub use validate::{Problem, Report, Severity};
pub use value::Value;
pub use wire::{DecodeError, OpV1, RecordV1, record_json};
