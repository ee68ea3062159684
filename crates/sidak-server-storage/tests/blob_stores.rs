//! The blob-store port on each backend: files in a folder, and a bucket of the S3-compatible
//! server of `SIDAK_TEST_S3` (moto in CI, where its absence fails the test). One story, run
//! on both: put is atomic and idempotent, get reads the whole blob or a range, exists and
//! delete agree, nothing partial is ever named.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use sidak_core::attachment::BlobHash;
use sidak_server_storage::blobs::{self, BlobStore, S3Settings, files::FileBlobs};
use sidak_server_storage::testing;

fn noise(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(b"blob store")
        .finalize_xof()
        .fill(&mut out);
    out
}

async fn story(store: Arc<dyn BlobStore>) {
    let bytes = noise(3 * 1024 * 1024 + 17);
    let h = BlobHash::of(&bytes);
    assert!(!store.exists(&h).await.unwrap());
    assert!(store.get(&h, None).await.unwrap().is_none());
    store.put(&h, Bytes::from(bytes.clone())).await.unwrap();
    store.put(&h, Bytes::from(bytes.clone())).await.unwrap();
    assert!(store.exists(&h).await.unwrap());
    let whole = blobs::read_all(store.get(&h, None).await.unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(whole.len(), bytes.len());
    assert!(whole == bytes, "the blob read back differs");
    for range in [
        0..1,
        1_000..1_001,
        1_048_576..2_200_000,
        3 * 1024 * 1024..bytes.len() as u64,
    ] {
        let got = blobs::read_all(store.get(&h, Some(range.clone())).await.unwrap().unwrap())
            .await
            .unwrap();
        assert!(
            got == bytes[range.start as usize..range.end as usize],
            "range {range:?}"
        );
    }
    let other = BlobHash::of(b"other");
    store.delete(&other).await.unwrap();
    store.delete(&h).await.unwrap();
    assert!(!store.exists(&h).await.unwrap());
    assert!(store.get(&h, None).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileBlobs::open(dir.path().join("server.sqlite.blobs")).unwrap();
    story(Arc::new(store.clone())).await;
    // Laid out as ab/<hash>, with no temporary file left behind.
    let h = BlobHash::of(b"layout");
    store.put(&h, Bytes::from_static(b"layout")).await.unwrap();
    let hex = h.to_hex();
    let path = dir
        .path()
        .join("server.sqlite.blobs")
        .join(&hex[..2])
        .join(&hex);
    assert_eq!(std::fs::read(&path).unwrap(), b"layout");
    assert_eq!(store.path_of(&h), path);
    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec![hex]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_opened_by_location() {
    let dir = tempfile::tempdir().unwrap();
    let location = format!("file:{}", dir.path().join("blobs").display());
    let store = blobs::open(&location, &S3Settings::default()).unwrap();
    assert_eq!(store.kind(), "files");
    story(store).await;
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    assert!(blobs::open(&file.display().to_string(), &S3Settings::default()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3() {
    let Some(endpoint) = testing::s3_endpoint() else {
        return;
    };
    let (location, settings) = testing::s3_bucket(&endpoint).await;
    let store = blobs::open(&location, &settings).unwrap();
    assert_eq!(store.kind(), "s3");
    story(store).await;
    assert!(blobs::open("s3://", &settings).is_err());
}
