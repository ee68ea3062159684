//! `sidak verify BUNDLE`: checks an evidence bundle with no server (docs/evidence.md).
//!
//! Prints one line per check (`ok`, `WARN` or `FAIL`, what was checked, what was found) and a
//! summary, or the verdict as JSON with `--json`. Exits 0 when every check passed, 1 when any
//! failed, 2 when the file cannot be read or is not a bundle.

use std::path::PathBuf;
use std::process::ExitCode;

use sidak_evidence::{Outcome, Verdict};

/// `sidak verify`'s arguments.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The evidence bundle, a JSON file the server made.
    pub bundle: PathBuf,
    /// The server's public key (64 hex), as the office publishes it (`GET /v1/info`); without
    /// it the check warns that the key is not pinned.
    #[arg(long, value_name = "HEX")]
    pub server_key: Option<String>,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `sidak verify`; its exit code says whether the bundle passed.
pub fn run(args: VerifyArgs) -> ExitCode {
    let path = args.bundle.display();
    let bytes = match std::fs::read(&args.bundle) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read {path}: {e}; give the path of the bundle's JSON file");
            return ExitCode::from(2);
        }
    };
    let bundle = match sidak_evidence::read_bundle(&bytes) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "error: {path} is not an evidence bundle: {e}. Check that you gave the bundle \
                 file itself, as the server made it"
            );
            return ExitCode::from(2);
        }
    };
    let verdict = sidak_evidence::verify(&bundle, args.server_key.as_deref());
    if args.json {
        match serde_json::to_string_pretty(&verdict) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: cannot write the verdict as JSON: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", text(&verdict, &bundle.subject.to_string()));
    }
    if verdict.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The verdict for people: one line per check, then the summary.
fn text(verdict: &Verdict, subject: &str) -> String {
    let mut out = String::new();
    for c in &verdict.checks {
        let tag = match c.outcome {
            Outcome::Passed => "ok  ",
            Outcome::Warning => "WARN",
            Outcome::Failed => "FAIL",
        };
        out.push_str(&format!("{tag} {}: {}\n", c.name, c.detail));
    }
    let failed = verdict.failures().count();
    let warned = verdict.warnings().count();
    let warnings = match warned {
        0 => String::new(),
        1 => ", 1 warning to read".to_owned(),
        n => format!(", {n} warnings to read"),
    };
    if failed == 0 {
        out.push_str(&format!(
            "passed: the evidence for record {subject} holds ({} checks{warnings})\n",
            verdict.checks.len()
        ));
    } else {
        out.push_str(&format!(
            "FAILED: {failed} of {} checks failed{warnings}; do not rely on this bundle for record \
             {subject}: it is not what the server made, or what the server made does not hold\n",
            verdict.checks.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sidak_evidence::Check;

    #[test]
    fn one_line_per_check_then_the_summary() {
        let check = |name: &str, outcome, detail: &str| Check {
            name: name.to_owned(),
            outcome,
            detail: detail.to_owned(),
        };
        let v = Verdict {
            checks: vec![
                check("format", Outcome::Passed, "sidak-evidence/1"),
                check("op seq 6", Outcome::Warning, "unsigned"),
                check("op seq 3", Outcome::Failed, "changed"),
            ],
        };
        assert_eq!(
            text(&v, "r"),
            "ok   format: sidak-evidence/1\nWARN op seq 6: unsigned\nFAIL op seq 3: changed\n\
             FAILED: 1 of 3 checks failed, 1 warning to read; do not rely on this bundle for \
             record r: it is not what the server made, or what the server made does not hold\n"
        );
    }
}
