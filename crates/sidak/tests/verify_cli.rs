//! Issue 15, `sidak verify BUNDLE` with the real binary: a real bundle passes (exit 0, `ok`
//! lines, a warning for the unpinned server key), a copy with one op changed fails naming the op
//! (exit 1), and a file that is not a bundle or not there says so (exit 2).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use sidak_evidence::testing::{ADDRESS, sample_bundle, server_key};

fn verify(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sidak"))
        .arg("verify")
        .args(args)
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_real_bundle_passes_and_a_changed_one_names_the_op() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = sample_bundle();
    let good = write(
        dir.path(),
        "good.json",
        &serde_json::to_vec_pretty(&bundle).unwrap(),
    );

    let out = verify(&[good.as_os_str()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.lines().any(|l| l.starts_with("ok   seals: ")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("ok   server seal: ")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("WARN server key: not pinned") && l.contains("GET /v1/info")),
        "{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(
        stdout.lines().last().unwrap().starts_with("passed: "),
        "{stdout}"
    );

    // Pinned: no warning about the key.
    let key = server_key().public().to_hex();
    let out = verify(&[good.as_os_str(), "--server-key".as_ref(), key.as_ref()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("ok   server key: "), "{stdout}");

    // --json: the verdict, every check with its outcome.
    let out = verify(&[good.as_os_str(), "--json".as_ref()]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = json["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == "records" && c["outcome"] == "passed")
    );
    assert!(checks.iter().all(|c| c["outcome"] != "failed"), "{json}");

    // One op's value changed after it was sent.
    let mut changed = bundle.clone();
    changed.ops[1].text = changed.ops[1]
        .text
        .replace(ADDRESS, &ADDRESS.replace("12", "13"));
    let bad = write(
        dir.path(),
        "changed.json",
        &serde_json::to_vec(&changed).unwrap(),
    );
    let out = verify(&[bad.as_os_str()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.lines().any(|l| l
            == "FAIL op seq 3: its hash is not the one its writer sealed at position 3 (the op \
                was changed after it was sent)"),
        "{stdout}"
    );
    assert!(stdout.contains("FAIL server seal: "), "{stdout}");
    assert!(
        stdout.lines().last().unwrap().starts_with("FAILED: "),
        "{stdout}"
    );
    let out = verify(&[bad.as_os_str(), "--json".as_ref()]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "op seq 3" && c["outcome"] == "failed")
    );
}

#[test]
fn what_is_not_a_bundle_exits_2_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, says) in [
        ("photo.jpg", &b"\xff\xd8\xff\xe0 not json"[..], "not JSON"),
        (
            "other.json",
            &br#"{"records": []}"#[..],
            "no `format` field",
        ),
        (
            "half.json",
            &br#"{"format": "sidak-evidence/1", "ops": []}"#[..],
            "its shape is wrong",
        ),
    ] {
        let path = write(dir.path(), name, bytes);
        let out = verify(&[path.as_os_str()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("is not an evidence bundle"), "{stderr}");
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    let out = verify(&[dir.path().join("missing.json").as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read"),
        "{}",
        text(&out.stderr)
    );
}
