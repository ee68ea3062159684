//! What the command-line tests share: `sidak serve` started as the README says, on a free port.

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
