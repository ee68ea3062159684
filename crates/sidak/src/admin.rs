//! `sidak admin …`: the central office's admin tool, talking to a running server over HTTP.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};
use sidak_core::protocol::ErrorBody;
use sidak_server::answers::admin::LoginResponse;

/// Admin options.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Server base URL.
    #[arg(long, env = "SIDAK_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Office user name.
    #[arg(long, env = "SIDAK_ADMIN_USER", default_value = "admin")]
    pub user: String,
    /// Office user password.
    #[arg(long, env = "SIDAK_ADMIN_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// Print JSON for scripts instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// What the admin does.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an officer with a scope of region code prefixes.
    OfficerAdd {
        /// Officer id (employee number); generated when omitted.
        #[arg(long)]
        id: Option<String>,
        /// Officer's name.
        #[arg(long)]
        name: String,
        /// Region code prefixes, comma-separated (73, 7371, 737101, 7371011001; dots allowed).
        #[arg(long)]
        scope: String,
    },
    /// Change an officer's scope (devices purge areas that left it and fetch areas added).
    OfficerScope {
        /// Officer id.
        id: String,
        /// The new scope, comma-separated.
        #[arg(long)]
        scope: String,
    },
    /// List officers.
    Officers,
    /// Issue a one-time enrollment code for an officer's new device.
    Code {
        /// Officer id.
        officer: String,
        /// Minutes the code stays valid.
        #[arg(long)]
        ttl_minutes: Option<u64>,
    },
    /// List devices and their sync health.
    Devices,
    /// Revoke a device (lost or stolen phone): it can no longer sync.
    Revoke {
        /// Device id.
        device: String,
    },
    /// Create an office user.
    UserAdd {
        /// User name.
        #[arg(long)]
        username: String,
        /// Password.
        #[arg(long)]
        password: String,
        /// admin, supervisor or officer.
        #[arg(long, default_value = "supervisor")]
        role: String,
    },
}

/// A logged-in office session against one server.
pub struct Session {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Session {
    /// Logs in as `user`.
    pub async fn login(server: &str, user: &str, password: &str) -> Result<Session> {
        let http = reqwest::Client::new();
        let base = server.trim_end_matches('/').to_owned();
        let res = http
            .post(format!("{base}/v1/login"))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .with_context(|| {
                format!("cannot reach the server at {base}: is `sidak serve` running?")
            })?;
        let body: LoginResponse = answer(res).await.context("login failed")?;
        Ok(Session {
            http,
            base,
            token: body.token,
        })
    }

    /// Sends a request with the session token and reads the JSON answer.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        answer(
            req.send()
                .await
                .with_context(|| format!("cannot reach {}", self.base))?,
        )
        .await
    }
}

/// Reads a JSON answer, turning an error body into a readable error.
async fn answer<T: DeserializeOwned>(res: reqwest::Response) -> Result<T> {
    let status = res.status();
    let bytes = res.bytes().await?;
    if !status.is_success() {
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => bail!("server said {status} {}: {}", e.code, e.message),
            Err(_) => bail!("server said {status}: {}", String::from_utf8_lossy(&bytes)),
        }
    }
    serde_json::from_slice(&bytes)
        .with_context(|| format!("unexpected answer: {}", String::from_utf8_lossy(&bytes)))
}

fn scope_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(sidak_core::region::undot)
        .collect()
}

/// Runs an admin command.
pub async fn run(args: AdminArgs) -> Result<()> {
    use reqwest::Method;
    let s = Session::login(&args.server, &args.user, &args.password).await?;
    let none: Option<&Json> = None;
    let out: Json = match &args.command {
        AdminCommand::OfficerAdd { id, name, scope } => {
            s.call(
                Method::POST,
                "/v1/admin/officers",
                Some(&json!({"id": id, "name": name, "scope": scope_list(scope)})),
            )
            .await?
        }
        AdminCommand::OfficerScope { id, scope } => {
            s.call(
                Method::PUT,
                &format!("/v1/admin/officers/{id}/scope"),
                Some(&json!({"scope": scope_list(scope)})),
            )
            .await?
        }
        AdminCommand::Officers => s.call(Method::GET, "/v1/admin/officers", none).await?,
        AdminCommand::Code {
            officer,
            ttl_minutes,
        } => {
            s.call(
                Method::POST,
                &format!("/v1/admin/officers/{officer}/enrollment-codes"),
                Some(&json!({"ttl_minutes": ttl_minutes})),
            )
            .await?
        }
        AdminCommand::Devices => s.call(Method::GET, "/v1/admin/devices", none).await?,
        AdminCommand::Revoke { device } => {
            s.call(
                Method::POST,
                &format!("/v1/admin/devices/{device}/revoke"),
                Some(&json!({})),
            )
            .await?
        }
        AdminCommand::UserAdd {
            username,
            password,
            role,
        } => {
            s.call(
                Method::POST,
                "/v1/admin/users",
                Some(&json!({"username": username, "password": password, "role": role})),
            )
            .await?
        }
    };
    if args.json {
        println!("{out}");
        return Ok(());
    }
    match &args.command {
        AdminCommand::Code { .. } => println!(
            "enrollment code {} for officer {} (single use, valid until {} ms)",
            out["code"].as_str().unwrap_or("?"),
            out["officer_id"].as_str().unwrap_or("?"),
            out["expires_ms"]
        ),
        AdminCommand::Devices => {
            for d in out
                .as_array()
                .into_iter()
                .flatten()
                .chain(out["devices"].as_array().into_iter().flatten())
            {
                println!(
                    "{}  officer {}  last sync {}  pending {}  rejected {}  clock offset {} ms{}",
                    d["device_id"].as_str().unwrap_or("?"),
                    d["officer_id"].as_str().unwrap_or("?"),
                    d["last_sync_ms"],
                    d["status"]["pending_ops"],
                    d["status"]["rejected_ops"],
                    d["clock_offset_ms"],
                    if d["revoked_ms"].is_null() {
                        ""
                    } else {
                        "  REVOKED"
                    }
                );
            }
        }
        _ => println!("{}", serde_json::to_string_pretty(&out)?),
    }
    Ok(())
}
