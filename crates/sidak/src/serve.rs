//! `sidak serve`: the sync server, on its embedded SQLite default or on PostgreSQL.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use rand::Rng;
use sidak_server::{Config, TlsConfig};

/// Server options; each flag also reads an environment variable.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SIDAK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Database: `sqlite:FILE` (default `sqlite:sidak.sqlite` in the working directory) or `postgres://…`.
    #[arg(long, env = "SIDAK_DATABASE", default_value = "sqlite:sidak.sqlite")]
    pub database: String,
    /// Password of the `admin` user created on first start (random and printed when not given).
    #[arg(long, env = "SIDAK_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// How far ahead of the server's clock (seconds) an op may be stamped before it is set aside.
    #[arg(long, env = "SIDAK_MAX_CLOCK_SKEW_SECS", default_value_t = 600)]
    pub max_clock_skew_secs: u64,
    /// Largest request body in bytes, after decompression.
    #[arg(long, env = "SIDAK_MAX_BODY_BYTES", default_value_t = sidak_server::config::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Most ops per pull page.
    #[arg(long, env = "SIDAK_MAX_PAGE_OPS", default_value_t = sidak_core::protocol::MAX_PAGE_OPS)]
    pub max_page_ops: u32,
    /// Office session lifetime in hours.
    #[arg(long, env = "SIDAK_SESSION_HOURS", default_value_t = 12)]
    pub session_hours: u64,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate first); needs --tls-key.
    #[arg(
        long,
        env = "SIDAK_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, RSA or SEC1).
    #[arg(
        long,
        env = "SIDAK_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Where attachments' blobs live: a folder, or `s3://bucket/prefix` (credentials and endpoint
    /// from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, …). Default: a
    /// folder beside the SQLite database (`<file>.blobs`).
    #[arg(long, env = "SIDAK_BLOBS", value_name = "DIR|s3://bucket/prefix")]
    pub blobs: Option<String>,
    /// Largest attachment accepted, in bytes (at most 20 MiB, what devices may attach).
    #[arg(long, env = "SIDAK_MAX_BLOB_BYTES", default_value_t = sidak_core::attachment::MAX_BLOB_BYTES)]
    pub max_blob_bytes: u64,
    /// Hours an unreferenced blob, or an upload nobody continues, is kept before it is collected.
    #[arg(long, env = "SIDAK_BLOB_GRACE_HOURS", default_value_t = 7 * 24)]
    pub blob_grace_hours: u64,
    /// Potential informal workers per area for the coverage report's share: a CSV
    /// `code,potential,covered,baseline,target_share` (see data/coverage-targets.csv, which is
    /// used when this is not given).
    #[arg(long, env = "SIDAK_COVERAGE_TARGETS", value_name = "FILE")]
    pub coverage_targets: Option<PathBuf>,
    /// Log as JSON lines (for log collectors) instead of text.
    #[arg(long, env = "SIDAK_LOG_JSON")]
    pub log_json: bool,
}

impl ServeArgs {
    /// The server configuration these options describe.
    pub fn config(&self) -> Config {
        Config {
            listen: self.listen,
            database: self.database.clone(),
            max_body_bytes: self.max_body_bytes,
            max_page_ops: self.max_page_ops,
            max_clock_skew_ms: self.max_clock_skew_secs * 1000,
            session_ttl: Duration::from_secs(self.session_hours * 3600),
            bootstrap_admin_password: self.admin_password.clone(),
            blobs: self.blobs.clone(),
            max_blob_bytes: self.max_blob_bytes,
            blob_grace: Duration::from_secs(self.blob_grace_hours * 3600),
            ..Config::default()
        }
    }
}

/// A random password for the first admin: 16 characters a person can type.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Runs the server until Ctrl-C or SIGTERM, then finishes requests in flight.
pub async fn run(args: ServeArgs) -> Result<()> {
    // Certificate and key first: a bad file stops the start before anything else happens.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let config = TlsConfig::from_pem_files(cert, key).context("cannot serve HTTPS")?;
            let pem =
                std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?;
            let pin = sidak_client::SpkiPin::of_pem_certificate(&pem)
                .with_context(|| format!("{}", cert.display()))?;
            Some((config, pin))
        }
        _ => None,
    };
    let mut config = args.config();
    if let Some(path) = &args.coverage_targets {
        config.coverage_targets =
            sidak_server::targets::Targets::load(path).map_err(anyhow::Error::msg)?;
    }
    if config.bootstrap_admin_password.is_none() {
        let storage = sidak_server_storage::open(&config.database)
            .await
            .with_context(|| format!("cannot open database {}", redact(&config.database)))?;
        if storage
            .find_user(&config.bootstrap_admin_username)
            .await?
            .is_none()
        {
            let pw = random_password();
            println!(
                "first start: created office user `{}` with password {pw} (keep it; change it with `sidak admin`)",
                config.bootstrap_admin_username
            );
            config.bootstrap_admin_password = Some(pw);
        }
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "sidak serving on {scheme}://{} ({}, blobs in {})",
        listener.local_addr()?,
        redact(&config.database),
        config.blob_location()
    );
    match tls {
        Some((tls, pin)) => {
            println!("certificate pin for the phones: {pin}");
            sidak_server::run_tls(listener, config, tls, shutdown_signal()).await?;
        }
        None => sidak_server::run(listener, config, shutdown_signal()).await?,
    }
    Ok(())
}

/// A database URL without its password, for logs and the console.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_database_passwords() {
        assert_eq!(
            super::redact("postgres://sidak:s3cret@db:5432/sidak"),
            "postgres://sidak:***@db:5432/sidak"
        );
        assert_eq!(
            super::redact("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(super::redact("sqlite:sidak.sqlite"), "sqlite:sidak.sqlite");
    }
}
