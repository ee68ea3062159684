//! The `sidak` binary as a person runs it: the README's server command on its embedded
//! default, the admin tool, and field devices working offline and syncing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

mod common;
use common::{
    admin, device, enrolled_ani, has_epoch_ms, json, run, serve, serve_with, sidak, workload,
};

/// A plain HTTP GET over a socket (no client library: this is what a load balancer's probe does).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[test]
fn readme_server_command_serves_healthz_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let (status, body) = http_get(&server.addr, "/healthz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ok\""), "{body}");
    assert!(body.contains("sqlite"), "{body}");
    assert!(
        dir.path().join("sidak.sqlite").exists(),
        "embedded SQLite file in the working directory"
    );
    assert!(
        !server.admin_password.is_empty(),
        "first start prints the admin password"
    );
}

#[test]
fn officers_enroll_work_offline_and_sync_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let url = format!("http://{}", server.addr);
    admin(
        &server,
        &[
            "officer-add",
            "--id",
            "ani",
            "--name",
            "Ani",
            "--scope",
            "73.71",
        ],
    );
    let a_db = dir.path().join("a.sqlite");
    let b_db = dir.path().join("b.sqlite");
    for db in [&a_db, &b_db] {
        let code = admin(&server, &["code", "ani"]);
        let e = device(
            db,
            &[
                "enroll",
                "--server",
                &url,
                "--code",
                code["code"].as_str().unwrap(),
            ],
        );
        assert_eq!(e["scope"], serde_json::json!(["7371"]));
    }
    let w = device(
        &a_db,
        &[
            "worker",
            "add",
            "--village",
            "73.71.01.1001",
            "--nik",
            "7371015506900003",
            "--name",
            "Hasnah Daeng Ngai",
            "--birth-date",
            "1990-06-15",
            "--sex",
            "female",
            "--occupation",
            "seaweed_farmer",
            "--income",
            "1.500.000",
            "--consent",
            "--programmes",
            "JKK,JKM,JHT",
        ],
    );
    let id = w["id"].as_str().unwrap().to_owned();
    // A bad edit is refused with a message and changes nothing.
    let out = sidak()
        .args(["device", "--db"])
        .arg(&a_db)
        .args(["worker", "set", &id, "monthly_income=500000"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("monthly_income"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = device(&a_db, &["sync"]);
    assert_eq!(s["accepted"], 1);
    let s = device(&b_db, &["sync"]);
    assert_eq!(s["pulled"], 1);
    device(&a_db, &["worker", "set", &id, "full_name=Hasnah Dg. Ngai"]);
    device(
        &b_db,
        &[
            "worker",
            "set",
            &id,
            "full_name=Hasna Daeng Ngai",
            "heirs+=Ridwan (anak)",
        ],
    );
    device(&a_db, &["sync"]);
    device(&b_db, &["sync"]);
    device(&a_db, &["sync"]);
    let a = device(&a_db, &["worker", "show", &id]);
    let b = device(&b_db, &["worker", "show", &id]);
    assert_eq!(a, b, "both devices show the same record");
    assert_eq!(a["conflicts"], serde_json::json!(["full_name"]));
    assert_eq!(a["fields"]["heirs"], serde_json::json!(["Ridwan (anak)"]));
    let status = device(&a_db, &["status"]);
    assert_eq!(status["pending_edits"], 0);
    assert_eq!(status["conflicted_records"], 1);
    let devices = admin(&server, &["devices"]);
    assert_eq!(devices.as_array().map(Vec::len), Some(2));

    // Issue 18: without --json, people read names and WITA times, never epoch milliseconds.
    let text = run(sidak()
        .args([
            "admin",
            "--server",
            &url,
            "--password",
            &server.admin_password,
        ])
        .arg("devices"));
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("Ani (ani)") && text.contains("WITA"),
        "{text}"
    );
    assert!(!has_epoch_ms(&text), "{text}");
    let conflicts = run(sidak().args(["device", "--db"]).arg(&a_db).arg("conflicts"));
    assert!(
        conflicts.contains("full_name:") && conflicts.contains("this device, "),
        "{conflicts}"
    );
    assert!(
        conflicts.contains("WITA") && !has_epoch_ms(&conflicts),
        "{conflicts}"
    );
}

#[test]
fn a_device_killed_while_pulling_resumes_with_nothing_lost_or_twice() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let url = format!("http://{}", server.addr);
    admin(
        &server,
        &[
            "officer-add",
            "--id",
            "ani",
            "--name",
            "Ani",
            "--scope",
            "73",
        ],
    );
    // Upload a few thousand registrations through the benchmark's generator on device A.
    let workload = dir.path().join("workload");
    run(sidak()
        .args([
            "bench",
            "--n",
            "3000",
            "--s3-records",
            "3000",
            "--write-workload",
        ])
        .arg(&workload));
    let a_db = dir.path().join("a.sqlite");
    let code = admin(&server, &["code", "ani"]);
    device(
        &a_db,
        &[
            "enroll",
            "--server",
            &url,
            "--code",
            code["code"].as_str().unwrap(),
        ],
    );
    let mut cmd = sidak();
    cmd.args(["device", "--db"])
        .arg(&a_db)
        .args(["import", "--records"])
        .arg(workload.join("records.jsonl"));
    run(&mut cmd);
    device(&a_db, &["sync"]);
    // Device B pulls; it is killed at several moments, then finishes.
    let b_db = dir.path().join("b.sqlite");
    let code = admin(&server, &["code", "ani"]);
    device(
        &b_db,
        &[
            "enroll",
            "--server",
            &url,
            "--code",
            code["code"].as_str().unwrap(),
        ],
    );
    let mut seen = Vec::new();
    for delay_ms in [40u64, 80, 120, 160, 200, 240] {
        let mut child = sidak()
            .args(["device", "--db"])
            .arg(&b_db)
            .args(["sync", "--page-ops", "20"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        seen.push(device(&b_db, &["status"])["records"].as_u64().unwrap());
    }
    assert!(
        seen.iter().any(|n| *n > 0 && *n < 3000),
        "some kill landed in the middle of the pull: {seen:?}"
    );
    let s = device(&b_db, &["sync"]);
    let status = device(&b_db, &["status"]);
    assert_eq!(status["records"], 3000, "every record once: {s}");
    assert_eq!(status["by_kind"]["worker"], 3000);
}

#[test]
fn the_demo_runs_a_field_day_and_everything_converges() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(sidak().arg("demo").current_dir(dir.path()));
    assert!(
        out.contains("identical to the server's merged state"),
        "{out}"
    );
    assert!(!out.contains("DIFFERS"), "{out}");
    assert!(
        out.contains("workers_observed"),
        "the headcount conflict reaches the office inbox: {out}"
    );
    assert!(
        out.contains("records in conflict: 0  duplicate registration's status: duplicate"),
        "{out}"
    );
}

#[test]
fn importing_a_bad_records_file_says_which_line_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let db = enrolled_ani(&server, dir.path());
    let workload = workload(dir.path(), 3);
    let good = std::fs::read_to_string(workload.join("records.jsonl")).unwrap();
    let cases = [
        (format!("{good}{{not json\n"), "bad.jsonl:4: not JSON"),
        (
            format!("{}{{\"village\":\"7371011001\"}}\n", good),
            "without \"id\"",
        ),
        (good.replace("\"JKK\"", "\"JP\""), "JP"),
    ];
    for (text, expect) in cases {
        let path = dir.path().join("bad.jsonl");
        std::fs::write(&path, text).unwrap();
        let out = sidak()
            .args(["device", "--db"])
            .arg(&db)
            .args(["import", "--records"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{expect}: {err}");
        assert_eq!(device(&db, &["status"])["records"], 0, "nothing stored");
    }
}

/// Issue 16: a branch office without a reverse proxy. `sidak tls-cert` makes the certificate
/// and prints the pin; `sidak serve --tls-cert/--tls-key` serves HTTPS (and refuses a bad key
/// file at start, naming it); the admin tool and a device carry the pin (flag or environment)
/// and sync; a wrong pin stops the sync with a message saying what to do; plain HTTP on the
/// port gets `tls_required`.
#[test]
fn a_branch_server_serves_https_and_a_pinned_device_syncs_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    let made = json(&run(sidak()
        .args([
            "tls-cert",
            "--host",
            "127.0.0.1",
            "--host",
            "localhost",
            "--json",
            "--out",
        ])
        .arg(&tls)));
    let pin = made["pin"].as_str().unwrap().to_owned();
    assert!(pin.starts_with("sha256/") && pin.len() == 51, "{pin}");
    let (cert, key) = (tls.join("cert.pem"), tls.join("key.pem"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key is private: {mode:o}");
    }

    let bad = dir.path().join("bad-key.pem");
    std::fs::write(&bad, "not a key\n").unwrap();
    let out = sidak()
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&bad)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&bad.display().to_string()) && err.contains("no private key found"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let server = serve_with(
        dir.path(),
        &[
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            key.as_os_str(),
        ],
    );
    let url = format!("https://{}", server.addr);
    let admin_tls = |args: &[&str]| {
        let mut cmd = sidak();
        cmd.args([
            "admin",
            "--server",
            &url,
            "--password",
            &server.admin_password,
            "--json",
        ])
        .args(["--server-pin", &pin])
        .args(args);
        json(&run(&mut cmd))
    };
    admin_tls(&[
        "officer-add",
        "--id",
        "ani",
        "--name",
        "Ani",
        "--scope",
        "7371",
    ]);
    let code = admin_tls(&["code", "ani"]);
    let db = dir.path().join("a.sqlite");
    device(
        &db,
        &[
            "enroll",
            "--server",
            &url,
            "--code",
            code["code"].as_str().unwrap(),
            "--server-pin",
            &pin,
        ],
    );
    device(
        &db,
        &[
            "worker",
            "add",
            "--village",
            "7371011001",
            "--nik",
            "7371015506900003",
            "--name",
            "Hasnah",
            "--birth-date",
            "1990-06-15",
            "--sex",
            "female",
            "--occupation",
            "fisher",
            "--income",
            "1500000",
            "--consent",
            "--programmes",
            "JKK,JKM",
        ],
    );
    let s = json(&run(sidak()
        .args(["device", "--db"])
        .arg(&db)
        .args(["--json", "sync"])
        .env("SIDAK_SERVER_PIN", &pin)));
    assert_eq!(s["accepted"], 1, "{s}");

    // A server with another key (here: a pin of another key) is refused, and the officer is told why.
    let other = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let out = sidak()
        .args(["device", "--db"])
        .arg(&db)
        .args(["sync", "--server-pin", other])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(
            "does not match the pinned key {other}; the server presented {pin}"
        )) && err.contains("set its new pin"),
        "{err}"
    );
    // A malformed pin is refused before anything is sent.
    let out = sidak()
        .args(["device", "--db"])
        .arg(&db)
        .args(["sync", "--server-pin", "sha256/short"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("malformed server pin"),
        "{err}"
    );
    // Plain HTTP on the HTTPS port.
    let (status, body) = http_get(&server.addr, "/v1/office/records");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"tls_required\""), "{body}");
}

/// A device command on `db` with the store key in `SIDAK_STORE_KEY` (none: unset).
fn keyed(db: &Path, key: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = sidak();
    cmd.args(["device", "--db"]).arg(db).args(args);
    cmd.env_remove("SIDAK_STORE_KEY");
    if let Some(k) = key {
        cmd.env("SIDAK_STORE_KEY", k);
    }
    cmd.output().expect("sidak runs")
}

#[test]
fn an_encrypted_device_store_works_only_with_its_key_and_a_lost_phone_is_wiped() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let url = format!("http://{}", server.addr);
    admin(
        &server,
        &[
            "officer-add",
            "--id",
            "ani",
            "--name",
            "Ani",
            "--scope",
            "73.71",
        ],
    );
    let db = dir.path().join("phone.sqlite");
    let key = "kunci rahasia ani";
    let code = admin(&server, &["code", "ani"]);
    let out = keyed(
        &db,
        None,
        &[
            "enroll",
            "--server",
            &url,
            "--code",
            code["code"].as_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Encrypt the plain store in place, with the new key from the environment.
    let mut change = sidak();
    change
        .args(["device", "--db"])
        .arg(&db)
        .arg("change-key")
        .env_remove("SIDAK_STORE_KEY")
        .env("SIDAK_NEW_STORE_KEY", key);
    let said = run(&mut change);
    assert!(said.contains("encrypted"), "{said}");
    let add = [
        "worker",
        "add",
        "--village",
        "73.71.01.1001",
        "--nik",
        "7371015506900003",
        "--name",
        "Hasnah Daeng Ngai",
        "--birth-date",
        "1990-06-15",
        "--sex",
        "female",
        "--occupation",
        "seaweed_farmer",
        "--income",
        "1.500.000",
        "--consent",
        "--programmes",
        "JKK,JKM",
    ];
    let out = keyed(&db, Some(key), &add);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&db).unwrap();
    assert!(!bytes.windows(16).any(|w| w == b"7371015506900003"));
    // Without the key, or with another, a clear error and nothing changed.
    for (k, expect) in [
        (None, "open it with its key"),
        (Some("salah"), "does not open"),
    ] {
        let out = keyed(&db, k, &["status"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{err}");
    }
    let status = keyed(&db, Some(key), &["--json", "status"]);
    assert!(status.status.success());
    assert_eq!(
        json(&String::from_utf8_lossy(&status.stdout))["pending_edits"],
        1
    );

    // The phone is reported lost before it syncs again: its next sync wipes it.
    let devices = admin(&server, &["devices"]);
    let id = devices[0]["device_id"].as_str().unwrap().to_owned();
    let lost = admin(&server, &["lost", &id]);
    assert_eq!(lost["wipe"]["order"], "lost");
    let out = keyed(&db, Some(key), &["sync"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("was wiped (lost): 1 unsent"), "{said}");
    assert!(!db.exists(), "the store file is still there");
    let devices = admin(&server, &["devices"]);
    assert!(devices[0]["wipe"]["wiped_ms"].is_u64(), "{devices}");
    let mut text = sidak();
    text.args([
        "admin",
        "--server",
        &url,
        "--password",
        &server.admin_password,
        "devices",
    ]);
    let shown = run(&mut text);
    assert!(
        shown.contains("LOST") && shown.contains("1 unsent edits destroyed"),
        "{shown}"
    );
}

/// Issue 13: `device worker list` pages by cursor: each page prints the `next` cursor (JSON)
/// or the command for the next page (text); `--after` goes on from it, and a cursor that is
/// not one says so.
#[test]
fn a_list_pages_by_cursor_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let db = enrolled_ani(&server, dir.path());
    let workload = workload(dir.path(), 7);
    run(sidak()
        .args(["device", "--db"])
        .arg(&db)
        .args(["import", "--records"])
        .arg(workload.join("records.jsonl")));

    let mut ids = Vec::new();
    let mut args = vec![
        "worker".to_owned(),
        "list".into(),
        "--limit".into(),
        "3".into(),
    ];
    let mut pages = 0;
    loop {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let page = device(&db, &argv);
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            ids.push(item["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(page["more"], page["next"].is_string(), "{page}");
        let Some(next) = page["next"].as_str() else {
            break;
        };
        args.truncate(4);
        args.extend(["--after".into(), next.to_owned()]);
    }
    assert_eq!(pages, 3);
    let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!((ids.len(), distinct.len()), (7, 7));

    let text = run(sidak()
        .args(["device", "--db"])
        .arg(&db)
        .args(["worker", "list", "--limit", "3"]));
    let line = text.lines().last().unwrap();
    assert!(
        line.starts_with("… more: the same command with --after "),
        "{text}"
    );

    let out = sidak()
        .args(["device", "--db"])
        .arg(&db)
        .args(["worker", "list", "--after", "not-a-cursor"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid list cursor"), "{err}");
}
