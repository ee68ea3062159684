//! What the command-line tests share: `sidak serve` started as the README says, on a free port,
//! and the admin tool and a device run as a person (text) or a script (`--json`) runs them.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `sidak serve` process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub admin_password: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `sidak` binary under test.
pub fn sidak() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sidak"))
}

/// Starts `sidak serve` in `dir` on a free port, exactly as the README says (plus the port).
pub fn serve(dir: &Path) -> Server {
    serve_with(dir, &[])
}

/// [`serve`] with more flags (`--tls-cert …`); `addr` is without the scheme either way.
pub fn serve_with(dir: &Path, extra: &[&std::ffi::OsStr]) -> Server {
    let mut child = sidak()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sidak serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut admin_password = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        assert!(Instant::now() < deadline, "server did not start");
        let line = lines
            .next()
            .expect("server printed its address")
            .expect("utf-8");
        if let Some(rest) = line.split("password ").nth(1) {
            admin_password = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
        if let Some(rest) = line
            .strip_prefix("sidak serving on http://")
            .or_else(|| line.strip_prefix("sidak serving on https://"))
        {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        addr,
        admin_password,
    }
}

/// Runs `cmd`, which must succeed; returns its standard output.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("sidak runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Reads `text` as one JSON document; panics, showing it, when it is not.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `sidak admin` against `server` as its admin, without `--json`.
pub fn admin_cmd(server: &Server) -> Command {
    let mut cmd = sidak();
    cmd.args([
        "admin",
        "--server",
        &format!("http://{}", server.addr),
        "--password",
        &server.admin_password,
    ]);
    cmd
}

/// An admin command with `--json`, read back.
pub fn admin(server: &Server, args: &[&str]) -> serde_json::Value {
    json(&run(admin_cmd(server).arg("--json").args(args)))
}

/// An admin command as a person runs it: its text.
pub fn admin_text(server: &Server, args: &[&str]) -> String {
    run(admin_cmd(server).args(args))
}

/// `sidak device --db <db> --json`.
pub fn device_cmd(db: &Path) -> Command {
    let mut cmd = sidak();
    cmd.args(["device", "--db"]).arg(db).arg("--json");
    cmd
}

/// A device command with `--json`, read back.
pub fn device(db: &Path, args: &[&str]) -> serde_json::Value {
    json(&run(device_cmd(db).args(args)))
}

/// A device command as a person runs it: its text.
pub fn device_text(db: &Path, args: &[&str]) -> String {
    run(sidak().args(["device", "--db"]).arg(db).args(args))
}

/// Whether `text` holds a 13-digit number (a time in epoch milliseconds).
pub fn has_epoch_ms(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_digit())
        .any(|w| w.len() == 13)
}

/// A device file `a.sqlite` in `dir`, enrolled for a new officer `ani` (scope 73).
pub fn enrolled_ani(server: &Server, dir: &Path) -> std::path::PathBuf {
    admin(
        server,
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
    let db = dir.join("a.sqlite");
    let code = admin(server, &["code", "ani"]);
    let url = format!("http://{}", server.addr);
    let code = code["code"].as_str().expect("an enrollment code");
    device(&db, &["enroll", "--server", &url, "--code", code]);
    db
}

/// The bench's generated workload of `n` records (and a small S3 edit set) in `dir/workload`.
pub fn workload(dir: &Path, n: usize) -> std::path::PathBuf {
    let out = dir.join("workload");
    let n = n.to_string();
    run(sidak()
        .args(["bench", "--n", &n, "--s3-records", "3", "--s3-edits", "1"])
        .args(["--s3-overlap", "1", "--write-workload"])
        .arg(&out));
    out
}
