//! The `sidak` binary as a person runs it: the README's server command on its embedded
//! default, the admin tool, and field devices working offline and syncing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `sidak serve` process; killed when dropped.
struct Server {
    child: Child,
    addr: String,
    admin_password: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sidak() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sidak"))
}

/// Starts `sidak serve` in `dir` on a free port, exactly as the README says (plus the port).
fn serve(dir: &Path) -> Server {
    let mut child = sidak()
        .args(["serve", "--listen", "127.0.0.1:0"])
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
        if let Some(rest) = line.strip_prefix("sidak serving on http://") {
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
