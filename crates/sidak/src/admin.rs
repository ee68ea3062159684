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
    #[command(flatten)]
    pub tls: crate::tls::ServerTlsArgs,
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
    /// Revoke a device: it can no longer sync (its data stays on it; see `lost` to wipe it).
    Revoke {
        /// Device id.
        device: String,
    },
    /// Report a device lost or stolen: revoked now, and its data wiped at its next contact.
    Lost {
        /// Device id.
        device: String,
    },
    /// Retire a device handed back: it sends its unsynced edits, then wipes its data.
    Retire {
        /// Device id.
        device: String,
    },
    /// Check the server's whole log: every op's log link, every signed op against its
    /// writer's seal, every seal's signature. Exits 1 naming the first bad entry.
    AuditVerify,
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
        Self::login_with(server, &sidak_client::TlsOptions::new(), user, password).await
    }

    /// Logs in as `user`, trusting the server's certificate as `tls` says.
    pub async fn login_with(
        server: &str,
        tls: &sidak_client::TlsOptions,
        user: &str,
        password: &str,
    ) -> Result<Session> {
        let http = tls.configure(reqwest::Client::builder())?.build()?;
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
    let s = Session::login_with(
        &args.server,
        &args.tls.options()?,
        &args.user,
        &args.password,
    )
    .await?;
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
        AdminCommand::AuditVerify => s.call(Method::GET, "/v1/admin/audit", none).await?,
        AdminCommand::Revoke { device } => {
            s.call(
                Method::POST,
                &format!("/v1/admin/devices/{device}/revoke"),
                Some(&json!({})),
            )
            .await?
        }
        AdminCommand::Lost { device } | AdminCommand::Retire { device } => {
            let what = if matches!(&args.command, AdminCommand::Lost { .. }) {
                "lost"
            } else {
                "retire"
            };
            s.call(
                Method::POST,
                &format!("/v1/admin/devices/{device}/{what}"),
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
    let bad_log = matches!(args.command, AdminCommand::AuditVerify) && !out["first_bad"].is_null();
    if args.json {
        println!("{out}");
        if bad_log {
            bail!("the log does not verify");
        }
        return Ok(());
    }
    let names = match &args.command {
        // Devices are shown with their officer's name, which the device list does not carry.
        AdminCommand::Devices => {
            officer_names(&s.call(Method::GET, "/v1/admin/officers", none).await?)
        }
        _ => std::collections::HashMap::new(),
    };
    print!("{}", text(&args.command, &out, &names, now_ms()));
    if bad_log {
        bail!("the log does not verify: see the entry named above");
    }
    Ok(())
}

/// What an audit found, for people.
fn audit_text(out: &Json) -> String {
    let n = |k: &str| out[k].as_u64().unwrap_or(0);
    let mut t = format!(
        "ops walked: {}\n  sealed by their writer: {}\n  unsigned (devices enrolled before keys): {}\n",
        n("ops"),
        n("sealed"),
        n("unsigned")
    );
    if n("unlinked") > 0 {
        t += &format!(
            "  not linked yet (committed during the walk): {}\n",
            n("unlinked")
        );
    }
    if let (Some(seq), Some(link)) = (out["root"][0].as_u64(), out["root"][1].as_str()) {
        t += &format!("log root: op {seq}, link {link}\n");
    }
    match (out["first_bad"][0].as_u64(), out["first_bad"][1].as_str()) {
        (Some(seq), Some(why)) => t += &format!("FAIL first bad entry: op {seq}: {why}\n"),
        _ => t += "ok   every link and every seal checks\n",
    }
    t
}

fn now_ms() -> u64 {
    sidak_core::hlc::unix_ms(std::time::SystemTime::now())
}

/// Officer id → name, from the officers list.
fn officer_names(officers: &Json) -> std::collections::HashMap<String, String> {
    officers
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| Some((o["id"].as_str()?.to_owned(), o["name"].as_str()?.to_owned())))
        .collect()
}

fn officer_line(o: &Json) -> String {
    let scope: Vec<&str> = o["scope"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
        .collect();
    format!(
        "{} ({})  scope {}\n",
        o["name"].as_str().unwrap_or("?"),
        o["id"].as_str().unwrap_or("?"),
        if scope.is_empty() {
            "none".to_owned()
        } else {
            scope.join(", ")
        }
    )
}

fn time_of(v: &Json) -> Option<String> {
    v.as_u64().map(crate::output::local_time)
}

/// What an admin command answered, for a person: names and local time (WITA), ids where
/// the next command needs them (a device id to revoke). `--json` prints the answer instead.
fn text(
    command: &AdminCommand,
    out: &Json,
    names: &std::collections::HashMap<String, String>,
    now_ms: u64,
) -> String {
    let s = |v: &Json| v.as_str().unwrap_or("?").to_owned();
    match command {
        AdminCommand::AuditVerify => audit_text(out),
        AdminCommand::OfficerAdd { .. } => format!("officer created: {}", officer_line(out)),
        AdminCommand::OfficerScope { .. } => format!("scope changed: {}", officer_line(out)),
        AdminCommand::Officers => {
            let lines: String = out
                .as_array()
                .into_iter()
                .flatten()
                .map(officer_line)
                .collect();
            if lines.is_empty() {
                "no officers yet\n".into()
            } else {
                lines
            }
        }
        AdminCommand::Code { .. } => format!(
            "enrollment code {} for officer {} (single use, valid until {})\n",
            s(&out["code"]),
            s(&out["officer_id"]),
            time_of(&out["expires_ms"]).unwrap_or_else(|| "?".into())
        ),
        AdminCommand::Devices => {
            let mut lines = String::new();
            for d in out.as_array().into_iter().flatten() {
                let officer = s(&d["officer_id"]);
                let who = match names.get(&officer) {
                    Some(n) => format!("{n} ({officer})"),
                    None => officer,
                };
                let last = match d["last_sync_ms"].as_u64() {
                    Some(ms) => {
                        let minutes = now_ms.saturating_sub(ms) / 60_000;
                        let ago = match minutes {
                            0 => "just now".to_owned(),
                            m if m < 120 => format!("{m} min ago"),
                            m if m < 48 * 60 => format!("{} h ago", m / 60),
                            m => format!("{} days ago", m / (24 * 60)),
                        };
                        format!("last sync {} ({ago})", crate::output::local_time(ms))
                    }
                    None => "never synced".into(),
                };
                let mut line = format!(
                    "{}  {}  {who}  {last}",
                    s(&d["device_id"]),
                    d["name"].as_str().unwrap_or("unnamed"),
                );
                if d["status"].is_object() {
                    line += &format!(
                        "  pending {}  refused {}",
                        d["status"]["pending_ops"].as_u64().unwrap_or(0),
                        d["status"]["rejected_ops"].as_u64().unwrap_or(0)
                    );
                }
                if let Some(n) = d["set_aside"].as_u64().filter(|n| *n > 0) {
                    line += &format!("  set aside {n}");
                }
                if let Some(o) = d["clock_offset_ms"].as_i64() {
                    line += &format!("  clock {}", crate::output::clock_offset(o));
                }
                if let Some(at) = time_of(&d["revoked_ms"]) {
                    line += &format!("  REVOKED {at}");
                }
                if d["wipe"].is_object() {
                    line += &format!("  {}", wipe_text(&d["wipe"]));
                }
                lines += &line;
                lines.push('\n');
            }
            if lines.is_empty() {
                "no devices enrolled yet\n".into()
            } else {
                lines
            }
        }
        AdminCommand::Revoke { .. } => format!(
            "device {} of officer {} revoked at {}: it can no longer sync\n",
            s(&out["device_id"]),
            s(&out["officer_id"]),
            time_of(&out["revoked_ms"]).unwrap_or_else(|| "?".into())
        ),
        AdminCommand::Lost { .. } | AdminCommand::Retire { .. } => format!(
            "device {} of officer {}: {}\n",
            s(&out["device_id"]),
            s(&out["officer_id"]),
            wipe_text(&out["wipe"])
        ),
        AdminCommand::UserAdd { .. } => format!(
            "office user {} created ({})\n",
            s(&out["username"]),
            s(&out["role"])
        ),
    }
}

/// A wipe order and how far it went, for a person: "LOST: wipe ordered ..., wiped ...".
fn wipe_text(w: &Json) -> String {
    let order = match w["order"].as_str() {
        Some("lost") => "LOST (revoked; wiped at its next contact)",
        Some("retired") => "RETIRED (sends its edits, then wipes)",
        _ => "wipe",
    };
    let mut text = format!(
        "{order}: ordered {}",
        time_of(&w["ordered_ms"]).unwrap_or_else(|| "?".into())
    );
    match (time_of(&w["told_ms"]), time_of(&w["wiped_ms"])) {
        (_, Some(at)) => {
            text += &format!(", wiped {at}");
            let r = &w["report"];
            let lost = r["pending_ops"].as_u64().unwrap_or(0);
            if lost > 0 {
                text += &format!(" ({lost} unsent edits destroyed)");
            }
        }
        (Some(at), None) => text += &format!(", told {at}, not yet confirmed"),
        (None, None) => text += ", not in contact since",
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_187_900_000; // 2026-12-02 13:05 WITA

    /// Issue 18: people read names and WITA times, never epoch milliseconds.
    #[test]
    fn admin_answers_read_as_text() {
        let names =
            std::collections::HashMap::from([("o1".to_owned(), "Andi Makkasau".to_owned())]);
        let devices = serde_json::json!([{
            "device_id": "5213efef-aaf2-45b3-b45a-1cefbcbc0952", "officer_id": "o1", "name": "Redmi 9",
            "enrolled_ms": NOW - 86_400_000, "last_sync_ms": NOW - 180_000, "revoked_ms": null,
            "status": {"pending_ops": 0, "rejected_ops": 2}, "clock_offset_ms": -120_000, "set_aside": 0
        }]);
        let t = text(&AdminCommand::Devices, &devices, &names, NOW);
        assert_eq!(
            t,
            "5213efef-aaf2-45b3-b45a-1cefbcbc0952  Redmi 9  Andi Makkasau (o1)  last sync 2026-12-02 13:02 WITA (3 min ago)  pending 0  refused 2  clock 2 min behind\n"
        );
        assert!(!t.contains("1796"), "no epoch milliseconds: {t}");
        let officer =
            serde_json::json!({"id": "o1", "name": "Andi Makkasau", "scope": ["7371", "7372"]});
        let add = AdminCommand::OfficerAdd {
            id: None,
            name: "Andi Makkasau".into(),
            scope: "7371,7372".into(),
        };
        assert_eq!(
            text(&add, &officer, &names, NOW),
            "officer created: Andi Makkasau (o1)  scope 7371, 7372\n"
        );
        let code = serde_json::json!({"code": "ZSAA-MDZC-2E3K", "officer_id": "o1", "expires_ms": NOW + 3_600_000});
        let c = AdminCommand::Code {
            officer: "o1".into(),
            ttl_minutes: None,
        };
        assert_eq!(
            text(&c, &code, &names, NOW),
            "enrollment code ZSAA-MDZC-2E3K for officer o1 (single use, valid until 2026-12-02 14:05 WITA)\n"
        );
        assert_eq!(
            text(&AdminCommand::Devices, &serde_json::json!([]), &names, NOW),
            "no devices enrolled yet\n"
        );
    }
}
