#![no_main]
//! Fuzz target: see `sidak_core::fuzzing::op_json`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sidak_core::fuzzing::op_json(data));
