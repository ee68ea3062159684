#![no_main]
//! Photo bytes as a device uploads them, decoded for a thumbnail and stripped of metadata.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for ty in ["image/jpeg", "image/png", "image/webp"] {
        let _ = sidak_media::thumbnail(data, ty, 64);
        let _ = sidak_media::without_location(sidak_media::Bytes::copy_from_slice(data), ty);
    }
});
