//! Replays every input kept in `fuzz/regressions/photo/` through the `photo` fuzz target's code.

use std::path::PathBuf;

#[test]
fn photo_fuzz_regressions_still_pass() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/photo");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir)
        .expect("fuzz/regressions/photo")
        .flatten()
    {
        let data = std::fs::read(entry.path()).expect("a regression input");
        for ty in ["image/jpeg", "image/png", "image/webp"] {
            let _ = sidak_media::thumbnail(&data, ty, 64);
            let _ = sidak_media::without_location(sidak_media::Bytes::from(data.clone()), ty);
        }
        n += 1;
    }
    assert!(n > 0, "no inputs under {}", dir.display());
}
