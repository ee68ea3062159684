//! Replays every input kept in `fuzz/regressions/evidence_bundle/` through the fuzz target's
//! entry point (`sidak_evidence::fuzzing::evidence_bundle`).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

#[test]
fn evidence_bundle_regressions_still_pass() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/evidence_bundle");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let data = std::fs::read(entry.path()).unwrap();
        sidak_evidence::fuzzing::evidence_bundle(&data);
        // Cut short at every 97th byte: half a bundle is an error, never a panic.
        for cut in (0..data.len()).step_by(97) {
            sidak_evidence::fuzzing::evidence_bundle(&data[..cut]);
        }
        n += 1;
    }
    assert!(n > 0, "no inputs under {}", dir.display());
}
