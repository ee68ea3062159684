#![no_main]
//! Attachment references (`b3:<hash>?size=…`) as a device sends them in an op.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sidak_core::fuzzing::content_ref(data));
