//! `sidak tls-cert`: a self-signed certificate for a branch server that runs without a
//! reverse proxy, and the pin its phones carry; and the `--server-ca`/`--server-pin` options
//! every command that talks to a server shares.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{Datelike, Duration, Utc};
use clap::Args;
use serde_json::json;
use sidak_client::{SpkiPin, TlsOptions};

/// How the command trusts the server's certificate over `https://` (ignored for `http://`).
#[derive(Debug, Clone, Default, Args)]
pub struct ServerTlsArgs {
    /// Also trust this PEM certificate: a private CA, or the server's self-signed certificate.
    #[arg(long, env = "SIDAK_SERVER_CA", value_name = "FILE")]
    pub server_ca: Option<PathBuf>,
    /// Accept only a server whose certificate's key has this pin (sha256/…, as `sidak tls-cert` prints it).
    #[arg(long, env = "SIDAK_SERVER_PIN", value_name = "PIN")]
    pub server_pin: Option<SpkiPin>,
}

impl ServerTlsArgs {
    /// The TLS options these flags describe.
    pub fn options(&self) -> Result<TlsOptions> {
        let mut tls = TlsOptions::new();
        if let Some(path) = &self.server_ca {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read --server-ca {}", path.display()))?;
            tls = tls
                .trust_pem(&pem)
                .with_context(|| format!("--server-ca {}", path.display()))?;
        }
        if let Some(pin) = self.server_pin {
            tls = tls.pin(pin);
        }
        Ok(tls)
    }
}

/// Options of `sidak tls-cert`.
#[derive(Debug, Args)]
pub struct TlsCertArgs {
    /// A name or IP address devices use to reach the server (repeat for each).
    #[arg(long = "host", required = true, value_name = "NAME|IP")]
    pub hosts: Vec<String>,
    /// Folder to write `cert.pem` and `key.pem` into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Days the certificate is valid (pinned phones do not check dates; browsers do).
    #[arg(long, default_value_t = 825)]
    pub days: u32,
    /// Reuse this PEM private key (PKCS#8) instead of making a new one: the pin stays the same.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Replace `cert.pem` and `key.pem` if they exist.
    #[arg(long)]
    pub force: bool,
    /// Print JSON for scripts instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A self-signed certificate for `hosts`, valid from yesterday for `days`, and its key (PEM).
pub fn self_signed(hosts: &[String], days: u32, key: Option<&str>) -> Result<(String, String)> {
    let key = match key {
        Some(pem) => rcgen::KeyPair::from_pem(pem).context("not a PEM PKCS#8 private key")?,
        None => rcgen::KeyPair::generate().context("cannot make a key")?,
    };
    let mut params =
        rcgen::CertificateParams::new(hosts.to_vec()).context("not a host name or IP address")?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("sidak {}", hosts[0]));
    let ymd =
        |t: chrono::DateTime<Utc>| rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8);
    // From yesterday: a client whose clock is a little behind still sees it as valid.
    let now = Utc::now();
    params.not_before = ymd(now - Duration::days(1));
    params.not_after = ymd(now + Duration::days(i64::from(days)));
    let cert = params
        .self_signed(&key)
        .context("cannot sign the certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes a self-signed certificate and key and prints the pin.
pub fn run(args: TlsCertArgs) -> Result<()> {
    if args.days == 0 {
        bail!("--days must be at least 1");
    }
    let reused = match &args.key {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --key {}", path.display()))?,
        ),
        None => None,
    };
    let (cert, key) = self_signed(&args.hosts, args.days, reused.as_deref())?;
    let pin = SpkiPin::of_pem_certificate(cert.as_bytes())?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let cert_path = args.out.join("cert.pem");
    let key_path = args.out.join("key.pem");
    if !args.force {
        for p in [&cert_path, &key_path] {
            if p.exists() {
                bail!(
                    "{} exists; pass --force to replace it (to keep the pin, pass --key with the old key)",
                    p.display()
                );
            }
        }
    }
    write_file(&key_path, key.as_bytes(), true)?;
    write_file(&cert_path, cert.as_bytes(), false)?;
    if args.json {
        println!(
            "{}",
            json!({"cert": cert_path, "key": key_path, "pin": pin.to_string(), "hosts": args.hosts})
        );
    } else {
        println!(
            "wrote {} and {} (keep the key secret: only the server reads it)",
            cert_path.display(),
            key_path.display()
        );
        println!(
            "serve with: sidak serve --tls-cert {} --tls-key {}",
            cert_path.display(),
            key_path.display()
        );
        println!("pin for the phones: {pin}");
    }
    Ok(())
}

/// Writes `bytes` to `path`; a private file is readable by its owner only.
fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = open
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_key_keeps_the_pin_and_a_new_one_changes_it() {
        let hosts = vec!["kantor.example".to_owned(), "192.0.2.10".to_owned()];
        let (cert, key) = self_signed(&hosts, 30, None).expect("cert");
        let pin = SpkiPin::of_pem_certificate(cert.as_bytes()).expect("pin");
        let (renewed, _) = self_signed(&hosts, 400, Some(&key)).expect("renewed");
        assert_ne!(renewed, cert);
        assert_eq!(
            SpkiPin::of_pem_certificate(renewed.as_bytes()).expect("pin"),
            pin
        );
        let (other, _) = self_signed(&hosts, 30, None).expect("other");
        assert_ne!(
            SpkiPin::of_pem_certificate(other.as_bytes()).expect("pin"),
            pin
        );
        sidak_server::TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).expect("servable");
        assert!(self_signed(&hosts, 30, Some("not a key")).is_err());
    }
}
