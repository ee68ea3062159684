//! The office's view of attachments over a real socket, on every database backend: a
//! record's detail lists its photos with whether the server holds them; a photo reads back
//! with the GPS its phone embedded removed (the original only for an admin, logged); a
//! preview is a small JPEG, cached by ETag; history shows each photo added and removed with
//! its reference; the CSV export lists the references; a hash the record never referenced,
//! a photo still uploading, a PDF's preview and every bad parameter get their codes.

#![allow(clippy::unwrap_used)]

use std::io::Cursor;

use serde_json::{Value as Json, json};
use sidak_core::attachment::{BlobHash, ContentRef};
use sidak_test_support::{Backend, TestServer, assert_code, backends, villages};

const OCTETS: (&str, &str) = ("content-type", "application/octet-stream");

/// A real JPEG of `w`×`h` with an EXIF segment naming a GPS position, as phones write.
fn photo_with_gps(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut plain = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut plain), image::ImageFormat::Jpeg)
        .unwrap();
    let mut exif = b"Exif\0\0MM\0*\0\0\0\x08".to_vec();
    exif.extend_from_slice(b"GPSLatitude -5.1477 GPSLongitude 119.4327");
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&u16::try_from(exif.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(&plain[2..]);
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn reference(bytes: &[u8], media_type: &str, caption: &str) -> ContentRef {
    let mut r = ContentRef::new(BlobHash::of(bytes), bytes.len() as u64, media_type).unwrap();
    r.caption = Some(caption.to_owned());
    r.taken_at = Some("2026-11-30T09:15:00+08:00".to_owned());
    r.geo = Some("-5.1477,119.4327".to_owned());
    r
}

/// `GET` as raw bytes; the body parsed as JSON when it is an error.
async fn get(
    s: &TestServer,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    s.get_bytes(path, token, headers).await
}

fn error_of(got: &(u16, reqwest::header::HeaderMap, Vec<u8>)) -> (u16, Json) {
    (got.0, serde_json::from_slice(&got.2).unwrap_or(Json::Null))
}

async fn office_sees_attachments(backend: Backend) {
    let s = TestServer::start(backend).await;
    let supervisor = s.user("spv", "supervisor-pass-1", "supervisor").await;
    let officer_session = s.user("lapangan", "officer-pass-123", "officer").await;
    s.officer("ofc-1", &["7371"]).await;
    let mut d = s.device("ofc-1").await;

    // A visit with three attachments: a photo uploaded, a PDF uploaded, a photo not yet sent.
    let wall = photo_with_gps(640, 480);
    let note = b"%PDF-1.7\n% nota pemeriksaan I, signed\n".to_vec();
    let later = photo_with_gps(200, 100);
    let wall_ref = reference(&wall, "image/jpeg", "Daftar pekerja di dinding");
    let note_ref = reference(&note, "application/pdf", "Nota pemeriksaan I");
    let later_ref = reference(&later, "image/jpeg", "Papan nama");
    let id = d.new_id();
    let hlc = d.stamp();
    let op = sidak_core::Edit::create(id, sidak_core::Kind::Company, &villages("7371")[0], hlc)
        .set("name", "CV Sinar")
        .and_then(|e| e.set("nib", "1234567890123"))
        .and_then(|e| e.set("compliance", "registered"))
        .and_then(|e| e.set("status", "active"))
        .unwrap()
        .finish();
    d.local(op);
    for r in [&wall_ref, &note_ref, &later_ref] {
        d.attach(id, r);
    }
    d.push_all().await;
    assert!(d.rejected.is_empty(), "{:?}", d.rejected);
    s.upload_blob(&d.token, &wall_ref, &wall).await;
    s.upload_blob(&d.token, &note_ref, &note).await;
    // Half of `later` only.
    let (status, _) = s
        .call(
            "POST",
            &format!("/v1/blobs/{}", later_ref.hash),
            Some(&d.token),
            Some(json!({"size": later_ref.size, "media_type": "image/jpeg"})),
        )
        .await;
    assert_eq!(status, 200);
    let half = later.len() / 2;
    let (status, _) = s
        .send_bytes(
            "PUT",
            &format!("/v1/blobs/{}/chunks?offset=0", later_ref.hash),
            Some(&d.token),
            &[OCTETS],
            later[..half].to_vec(),
        )
        .await;
    assert_eq!(status, 200);

    // The detail lists them with their state and where to read them.
    let (status, detail) = s
        .call(
            "GET",
            &format!("/v1/office/records/{id}"),
            Some(&supervisor),
            None,
        )
        .await;
    assert_eq!(status, 200, "{detail}");
    let list = detail["attachments"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{detail}");
    let find = |hash: &BlobHash| {
        list.iter()
            .find(|a| a["hash"] == hash.to_hex())
            .unwrap_or_else(|| panic!("{hash} not listed: {detail}"))
            .clone()
    };
    let a = find(&wall_ref.hash);
    assert_eq!(a["state"], "stored");
    assert_eq!(a["received"], wall.len());
    assert_eq!(a["caption"], "Daftar pekerja di dinding");
    assert_eq!(a["media_type"], "image/jpeg");
    assert_eq!(a["geo"], "-5.1477,119.4327");
    let url = a["url"].as_str().unwrap().to_owned();
    let thumb = a["thumbnail_url"].as_str().unwrap().to_owned();
    assert_eq!(
        url,
        format!("/v1/office/records/{id}/attachments/{}", wall_ref.hash)
    );
    assert_eq!(find(&note_ref.hash)["thumbnail_url"], Json::Null);
    let l = find(&later_ref.hash);
    assert_eq!(
        (l["state"].as_str(), l["received"].as_u64()),
        (Some("uploading"), Some(half as u64))
    );

    // The photo without its embedded position, the pixels as taken.
    let got = get(&s, &url, Some(&supervisor), &[]).await;
    assert_eq!(got.0, 200);
    assert_eq!(got.1["content-type"], "image/jpeg");
    assert!(contains(&wall, b"GPSLatitude"));
    assert!(
        !contains(&got.2, b"GPSLatitude"),
        "the GPS EXIF is still there"
    );
    assert_eq!(
        image::load_from_memory(&got.2).unwrap().into_rgb8(),
        image::load_from_memory(&wall).unwrap().into_rgb8()
    );
    let etag = got.1["etag"].to_str().unwrap().to_owned();
    let again = get(&s, &url, Some(&supervisor), &[("if-none-match", &etag)]).await;
    assert_eq!(again.0, 304);
    assert!(again.2.is_empty());

    // The original: an admin only.
    let original = format!("{url}?original=true");
    assert_code(
        &error_of(&get(&s, &original, Some(&supervisor), &[]).await),
        403,
        "forbidden",
    );
    let got = get(&s, &original, Some(&s.admin), &[]).await;
    assert_eq!(got.0, 200);
    assert_eq!(
        got.2, wall,
        "the original is byte for byte what the phone took"
    );
    assert_ne!(
        got.1["etag"].to_str().unwrap(),
        etag,
        "the original is cached apart"
    );

    // A PDF reads back as it is; it has no preview.
    let pdf_url = format!("/v1/office/records/{id}/attachments/{}", note_ref.hash);
    let got = get(&s, &pdf_url, Some(&supervisor), &[]).await;
    assert_eq!((got.0, got.2.clone()), (200, note.clone()));
    assert_eq!(got.1["content-type"], "application/pdf");
    assert_code(
        &error_of(&get(&s, &format!("{pdf_url}/thumbnail"), Some(&supervisor), &[]).await),
        415,
        "no_preview",
    );

    // The preview: a JPEG whose longest side is 320, or what was asked.
    let got = get(&s, &thumb, Some(&supervisor), &[]).await;
    assert_eq!(got.0, 200);
    assert_eq!(got.1["content-type"], "image/jpeg");
    let img = image::load_from_memory(&got.2).unwrap();
    assert_eq!((img.width(), img.height()), (320, 240));
    assert!(!contains(&got.2, b"GPSLatitude"));
    let small = get(&s, &format!("{thumb}?side=64"), Some(&supervisor), &[]).await;
    let img = image::load_from_memory(&small.2).unwrap();
    assert_eq!((img.width(), img.height()), (64, 48));
    let etag = got.1["etag"].to_str().unwrap().to_owned();
    assert_eq!(
        get(&s, &thumb, Some(&supervisor), &[("if-none-match", &etag)])
            .await
            .0,
        304
    );
    for bad in [
        "?side=0",
        "?side=15",
        "?side=5000",
        "?side=abc",
        "?side=",
        "?other=1",
    ] {
        assert_code(
            &error_of(&get(&s, &format!("{thumb}{bad}"), Some(&supervisor), &[]).await),
            400,
            "invalid_message",
        );
    }

    // Not uploaded yet; never referenced by this record; not a hash; not a record.
    let later_url = format!("/v1/office/records/{id}/attachments/{}", later_ref.hash);
    for path in [later_url.clone(), format!("{later_url}/thumbnail")] {
        assert_code(
            &error_of(&get(&s, &path, Some(&supervisor), &[]).await),
            404,
            "blob_pending",
        );
    }
    let stranger = BlobHash::of(b"a photo of another record");
    assert_code(
        &error_of(
            &get(
                &s,
                &format!("/v1/office/records/{id}/attachments/{stranger}"),
                Some(&supervisor),
                &[],
            )
            .await,
        ),
        404,
        "blob_not_found",
    );
    for bad in [
        "abc",
        &wall_ref.hash.to_hex().to_uppercase(),
        &"0".repeat(65),
    ] {
        assert_code(
            &error_of(
                &get(
                    &s,
                    &format!("/v1/office/records/{id}/attachments/{bad}"),
                    Some(&supervisor),
                    &[],
                )
                .await,
            ),
            400,
            "invalid_hash",
        );
    }
    let other = sidak_core::RecordId::new_v7(1_700_000_000_000, [7; 10]);
    assert_code(
        &error_of(
            &get(
                &s,
                &format!("/v1/office/records/{other}/attachments/{}", wall_ref.hash),
                Some(&supervisor),
                &[],
            )
            .await,
        ),
        404,
        "blob_not_found",
    );

    // Who may look: an office session of a supervisor or admin, nobody else.
    assert_eq!(get(&s, &url, None, &[]).await.0, 401);
    assert_eq!(get(&s, &url, Some(&d.token), &[]).await.0, 401);
    assert_code(
        &error_of(&get(&s, &url, Some(&officer_session), &[]).await),
        403,
        "forbidden",
    );

    // Removed on the phone: gone from the detail, shown removed in history, still readable
    // (a removed photo is still evidence, and the server never deletes a referenced blob).
    d.detach(id, &wall_ref);
    d.push_all().await;
    let (_, detail) = s
        .call(
            "GET",
            &format!("/v1/office/records/{id}"),
            Some(&supervisor),
            None,
        )
        .await;
    assert_eq!(
        detail["attachments"].as_array().unwrap().len(),
        2,
        "{detail}"
    );
    assert_eq!(get(&s, &url, Some(&supervisor), &[]).await.0, 200);
    let (status, history) = s
        .call(
            "GET",
            &format!("/v1/office/records/{id}/history"),
            Some(&supervisor),
            None,
        )
        .await;
    assert_eq!(status, 200, "{history}");
    let changes: Vec<&Json> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["changes"].as_array().unwrap())
        .filter(|c| c["field"] == "attachments")
        .collect();
    let element = wall_ref.to_element();
    assert!(
        changes
            .iter()
            .any(|c| c["action"] == "add" && c["member"] == element.as_str()),
        "{changes:?}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c["action"] == "remove" && c["member"] == element.as_str()),
        "{changes:?}"
    );

    // A worker's photos (the KTP shows the whole NIK) open for an admin only.
    let ktp = photo_with_gps(120, 80);
    let ktp_ref = reference(&ktp, "image/jpeg", "KTP");
    let village = villages("7371")[0].clone();
    let worker = d.register_worker(&village, "Siti Aminah");
    d.attach(worker, &ktp_ref);
    d.push_all().await;
    assert!(d.rejected.is_empty(), "{:?}", d.rejected);
    s.upload_blob(&d.token, &ktp_ref, &ktp).await;
    let ktp_url = format!("/v1/office/records/{worker}/attachments/{}", ktp_ref.hash);
    for path in [ktp_url.clone(), format!("{ktp_url}/thumbnail")] {
        assert_code(
            &error_of(&get(&s, &path, Some(&supervisor), &[]).await),
            403,
            "forbidden",
        );
        assert_eq!(get(&s, &path, Some(&s.admin), &[]).await.0, 200, "{path}");
    }

    // The export lists the references.
    let csv = get(
        &s,
        "/v1/office/export.csv?kind=company",
        Some(&supervisor),
        &[],
    )
    .await;
    assert_eq!(csv.0, 200);
    let text = String::from_utf8(csv.2).unwrap();
    assert!(text.contains(&note_ref.to_element()), "{text}");
    assert!(text.contains(&later_ref.to_element()), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_office_sees_a_records_photos_without_their_embedded_location() {
    for backend in backends() {
        office_sees_attachments(backend).await;
    }
}
