#![no_main]
//! Fuzz target: see `sidak_core::fuzzing::hlc_text`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sidak_core::fuzzing::hlc_text(data));
