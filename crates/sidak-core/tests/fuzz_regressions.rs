//! Replays every input kept in `fuzz/regressions/<target>/` (crashers found by fuzzing, and
//! seeds) through the same entry point as its fuzz target.

use std::path::PathBuf;

/// A fuzz target's name and its entry point.
type Target = (&'static str, fn(&[u8]));

#[test]
fn fuzz_regressions_still_pass() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let targets: [Target; 6] = [
        ("op_json", sidak_core::fuzzing::op_json),
        ("record_json", sidak_core::fuzzing::record_json),
        ("hlc_text", sidak_core::fuzzing::hlc_text),
        ("protocol_json", sidak_core::fuzzing::protocol_json),
        ("content_ref", sidak_core::fuzzing::content_ref),
        ("chain_header", sidak_core::fuzzing::chain_header),
    ];
    let mut n = 0;
    for (name, run) in targets {
        let Ok(dir) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        for entry in dir.flatten() {
            let data = std::fs::read(entry.path()).unwrap();
            run(&data);
            n += 1;
        }
    }
    assert!(n > 0, "no regression inputs found under {}", root.display());
}
