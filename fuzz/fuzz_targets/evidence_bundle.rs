#![no_main]
//! Fuzz target: see `sidak_evidence::fuzzing::evidence_bundle`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sidak_evidence::fuzzing::evidence_bundle(data));
