//! A visit's printable inspection report over a real socket, on every backend: the PDF is
//! read back by poppler (`pdftotext`, `pdfimages`, `pdftoppm`, Debian `poppler-utils`, which
//! `.ci/run` installs) and must say what the team recorded: company, team, when in WITA,
//! place, headcounts, stage and deadline, each finding with its category, legal basis and
//! deadline, the photo printed (one image) and the document not yet uploaded listed; room to
//! sign. The first page is rendered to `<target>/artifacts/report-page1.png`. Without poppler
//! the test fails under `CI=true` and is skipped otherwise.

#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use sidak_core::attachment::{BlobHash, ContentRef};
use sidak_core::{Edit, Kind};
use sidak_test_support::{Backend, TestServer, artifacts, backends, tools_available, villages};

fn poppler() -> bool {
    tools_available(
        &["pdftotext", "pdfimages", "pdftoppm"],
        "apt-get install poppler-utils",
        "the report test",
    )
}

fn photo() -> Vec<u8> {
    let img = image::RgbImage::from_fn(1600, 1200, |x, y| {
        image::Rgb([(x / 7 % 256) as u8, (y / 5 % 256) as u8, 140])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
        .unwrap();
    out
}

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn report_of_a_visit(backend: Backend, dir: &Path) {
    let s = TestServer::start(backend).await;
    let supervisor = s.user("spv", "supervisor-pass-1", "supervisor").await;
    let officer_session = s.user("lapangan", "officer-pass-123", "officer").await;
    s.officer("andi", &["7371"]).await;
    let mut d = s.device("andi").await;
    let village = villages("737101")[0].clone();

    let company = d.new_id();
    let hlc = d.stamp();
    d.local(
        Edit::create(company, Kind::Company, &village, hlc)
            .set("name", "CV Laut Biru")
            .and_then(|e| e.set("nib", "1234567890123"))
            .and_then(|e| e.set("address", "Jl. Nusantara No. 12"))
            .and_then(|e| e.set("compliance", "partly_registered"))
            .and_then(|e| e.set("status", "active"))
            .unwrap()
            .finish(),
    );
    let visit = d.new_id();
    let hlc = d.stamp();
    d.local(
        Edit::create(visit, Kind::Visit, &village, hlc)
            .set("company", company.to_string())
            .and_then(|e| e.add("team", "Andi Wijaya"))
            .and_then(|e| e.add("team", "Rina Pratiwi (Disnakertrans)"))
            .and_then(|e| e.set("started_at", "2026-12-01T01:15:00Z"))
            .and_then(|e| e.set("ended_at", "2026-12-01T03:40:00Z"))
            .and_then(|e| e.set("gps", "-5.1477,119.4327"))
            .and_then(|e| e.set("representative", "Hasan Basri (HRD)"))
            .and_then(|e| e.set("status", "completed"))
            .and_then(|e| e.set("workers_observed", 48i64))
            .and_then(|e| e.set("workers_registered", 31i64))
            .and_then(|e| e.set("nota_stage", "nota_1"))
            .and_then(|e| e.set("follow_up_deadline", "2026-12-15"))
            .unwrap()
            .finish(),
    );
    let finding = |d: &mut sidak_test_support::TestDevice,
                   ty: &str,
                   basis: &str,
                   deadline: &str| {
        let id = d.new_id();
        let hlc = d.stamp();
        d.local(
            Edit::create(id, Kind::Finding, &village, hlc)
                .set("visit", visit.to_string())
                .and_then(|e| e.set("type", ty))
                .and_then(|e| e.set("legal_basis", basis))
                .and_then(|e| e.set("deadline", deadline))
                .and_then(|e| e.set("affected_workers", 17i64))
                .and_then(|e| e.set("description", "Tujuh belas pekerja harian lepas belum didaftarkan pada program JKK dan JKM."))
                .and_then(|e| e.set("status", "open"))
                .unwrap()
                .finish(),
        );
        id
    };
    let f1 = finding(
        &mut d,
        "workers_not_registered",
        "PP 44/2015 Pasal 5",
        "2026-12-15",
    );
    finding(
        &mut d,
        "wages_under_reported",
        "Permenaker 1/2024",
        "2026-12-22",
    );
    let wall = photo();
    let mut wall_ref =
        ContentRef::new(BlobHash::of(&wall), wall.len() as u64, "image/jpeg").unwrap();
    wall_ref.caption = Some("Daftar hadir pekerja di dinding".into());
    wall_ref.taken_at = Some("2026-12-01T09:30:00+08:00".into());
    let note_pdf = b"%PDF-1.4 nota I".to_vec();
    let mut note_ref = ContentRef::new(
        BlobHash::of(&note_pdf),
        note_pdf.len() as u64,
        "application/pdf",
    )
    .unwrap();
    note_ref.caption = Some("Nota pemeriksaan I, ditandatangani".into());
    d.attach(visit, &note_ref);
    d.attach(f1, &wall_ref);
    d.push_all().await;
    assert!(d.rejected.is_empty(), "{:?}", d.rejected);
    s.upload_blob(&d.token, &wall_ref, &wall).await;

    let path = format!("/v1/office/records/{visit}/report.pdf");
    let (status, headers, pdf) = s.get_bytes(&path, Some(&supervisor), &[]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&pdf));
    assert_eq!(headers["content-type"], "application/pdf");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"laporan-")
    );
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(!pdf.windows(11).any(|w| w == b"GPSLatitude"));
    let file = dir.join(format!("report-{}.pdf", backend_name(backend)));
    std::fs::write(&file, &pdf).unwrap();
    let f = file.to_str().unwrap();

    let text = run("pdftotext", &["-layout", f, "-"]);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for want in [
        "LAPORAN HASIL PEMERIKSAAN",
        "CV Laut Biru",
        "1234567890123",
        "Andi Wijaya, Rina Pratiwi (Disnakertrans)",
        "2026-12-01 09:15 WITA",
        "2026-12-01 11:40 WITA",
        "Kota Makassar",
        "Hasan Basri (HRD)",
        "TK ditemukan / Workers seen 48",
        "31",
        "Nota pemeriksaan I / first inspection note",
        "2026-12-15",
        "Temuan / Findings (2)",
        "1. PDS-TK",
        "2. PDS-Upah",
        "PP 44/2015 Pasal 5",
        "Permenaker 1/2024",
        "2026-12-22",
        "Tujuh belas pekerja harian lepas",
        "Daftar hadir pekerja di dinding",
        "2026-12-01 09:30 WITA",
        "Nota pemeriksaan I, ditandatangani (belum diunggah / not uploaded yet)",
        "Tanda tangan / Signatures",
        "Tim pemeriksa / Inspector: Andi Wijaya",
        "Perwakilan perusahaan / Company representative: Hasan Basri (HRD)",
        "Halaman 1 /",
        "oleh / by spv",
    ] {
        assert!(flat.contains(want), "the report lacks {want:?}:\n{text}");
    }
    let images = run("pdfimages", &["-list", f]);
    assert_eq!(
        images.lines().filter(|l| l.contains(" image ")).count(),
        1,
        "one photo printed: {images}"
    );
    let prefix = dir.join(format!("report-{}-page", backend_name(backend)));
    run(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            f,
            prefix.to_str().unwrap(),
        ],
    );
    let png = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(&format!("report-{}-page", backend_name(backend)))
                    && n.ends_with(".png")
            })
        })
        .unwrap();
    let page = image::open(&png).unwrap();
    assert!(
        page.width() > 400 && page.height() > 600,
        "an A4 page at 60 dpi"
    );
    if backend == Backend::Sqlite {
        std::fs::copy(&png, artifacts().join("report-page1.png")).unwrap();
    }

    // Only for a visit; only for the office.
    let (status, _, body) = s
        .get_bytes(
            &format!("/v1/office/records/{company}/report.pdf"),
            Some(&supervisor),
            &[],
        )
        .await;
    let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("not_a_visit")),
        "{err}"
    );
    let other = sidak_core::RecordId::new_v7(1_700_000_000_000, [3; 10]);
    let (status, _, _) = s
        .get_bytes(
            &format!("/v1/office/records/{other}/report.pdf"),
            Some(&supervisor),
            &[],
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(s.get_bytes(&path, Some(&officer_session), &[]).await.0, 403);
    assert_eq!(s.get_bytes(&path, None, &[]).await.0, 401);
    assert_eq!(s.get_bytes(&path, Some(&d.token), &[]).await.0, 401);
}

fn backend_name(b: Backend) -> &'static str {
    if b == Backend::Sqlite {
        "sqlite"
    } else {
        "postgres"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visits_report_says_what_the_team_recorded() {
    if !poppler() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for backend in backends() {
        report_of_a_visit(backend, dir.path()).await;
    }
}
