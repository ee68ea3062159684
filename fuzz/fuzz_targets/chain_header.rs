#![no_main]
//! Fuzz target: see `sidak_core::fuzzing::chain_header`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sidak_core::fuzzing::chain_header(data));
