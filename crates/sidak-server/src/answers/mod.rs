//! What the login, admin and office endpoints answer: one typed struct per JSON answer.
//!
//! These are wire types, kept apart from the storage types they are built from (by hand,
//! with `From` impls or small constructors), so storage may change without the API
//! changing by accident, and the API may add what storage does not know (place names,
//! masked NIKs, whether a device is silent). Every handler of those families returns
//! `axum::Json` of one of them; the unit tests beside each type pin its JSON.
//!
//! - [`admin`] answers `/v1/login`, `/v1/me` and `/v1/admin/...` (these deserialize too:
//!   the `sidak admin` command and tests read them back).
//! - [`office`] answers `/v1/office/...`.
//!
//! The sync protocol's messages (`/v1/enroll`, `/v1/push`, `/v1/pull`, `/v1/sync`,
//! `/v1/info`) are not here: they are `sidak_core::protocol`, shared with the device.

pub mod admin;
pub mod office;
