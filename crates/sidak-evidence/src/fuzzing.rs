//! The entry point of the fuzz target `evidence_bundle` (`fuzz/`) and of its regression test.

/// Reads bytes as a bundle and checks it: whatever a file holds, an error or a verdict, never a
/// panic; and a bundle that reads is checked the same twice.
pub fn evidence_bundle(data: &[u8]) {
    let Ok(bundle) = crate::verify::read_bundle(data) else {
        return;
    };
    let once = crate::verify(&bundle, None);
    assert_eq!(
        once,
        crate::verify(&bundle, None),
        "a verdict must not depend on the run"
    );
    let _ = crate::verify(&bundle, Some(&bundle.server_key));
}
