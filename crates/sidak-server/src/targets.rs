//! Coverage against targets: the potential informal workers of an area and how many were
//! covered at a baseline, read from a small CSV the branch keeps (`data/coverage-targets.csv`
//! is shipped and compiled in; `sidak serve --coverage-targets FILE` replaces it), and the
//! share covered now: the baseline plus the registrations sidak brought to `verified` or
//! `enrolled` since.

use std::collections::BTreeMap;

use serde::Serialize;
use thiserror::Error;

/// The shipped targets (the province's public 2024 figures).
pub const SHIPPED: &str = include_str!("../../../data/coverage-targets.csv");

/// Worker statuses that count as covered.
pub const COVERED_STATUSES: [&str; 2] = ["verified", "enrolled"];

/// One area's target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    /// Potential informal workers.
    pub potential: u64,
    /// Covered at the baseline.
    pub covered: u64,
    /// Where the figures come from.
    pub baseline: String,
    /// The share aimed for (0 to 1), if set.
    pub target_share: Option<f64>,
}

/// Targets by area code (undotted).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Targets(BTreeMap<String, Target>);

/// A line of the targets file that does not read.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("coverage targets, line {line}: {why}")]
pub struct TargetsError {
    /// Line number (from 1).
    pub line: usize,
    /// What is wrong.
    pub why: String,
}

impl Targets {
    /// The shipped file's targets.
    pub fn shipped() -> Targets {
        // Checked by a test; an unreadable shipped file would be an empty table, not a panic.
        Targets::parse(SHIPPED).unwrap_or_default()
    }

    /// Reads the CSV (`code,potential,covered,baseline,target_share`, a header line, `#`
    /// comments, no quoted fields).
    pub fn parse(text: &str) -> Result<Targets, TargetsError> {
        let mut out = BTreeMap::new();
        let mut header = false;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let bad = |why: String| TargetsError { line, why };
            if l.contains('"') {
                return Err(bad(
                    "quoted fields are not read; write the text without quotes or commas".into(),
                ));
            }
            let cols: Vec<&str> = l.split(',').map(str::trim).collect();
            if !header {
                if cols[..] != ["code", "potential", "covered", "baseline", "target_share"] {
                    return Err(bad(
                        "the first line must be the header code,potential,covered,baseline,target_share".into(),
                    ));
                }
                header = true;
                continue;
            }
            if cols.len() != 5 {
                return Err(bad(format!("5 columns expected, found {}", cols.len())));
            }
            let code = cols[0].replace('.', "");
            if code.is_empty() || code.len() > 10 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!("{:?} is not a region code", cols[0])));
            }
            let num = |name: &str, s: &str| {
                s.replace('_', "")
                    .parse::<u64>()
                    .map_err(|_| bad(format!("{name} {s:?} is not a whole number")))
            };
            let potential = num("potential", cols[1])?;
            let covered = num("covered", cols[2])?;
            if potential == 0 {
                return Err(bad("potential must be above 0".into()));
            }
            if covered > potential {
                return Err(bad(format!(
                    "covered {covered} is more than the potential {potential}"
                )));
            }
            let target_share = match cols[4] {
                "" => None,
                s => match s.parse::<f64>() {
                    Ok(v) if (0.0..=1.0).contains(&v) => Some(v),
                    _ => {
                        return Err(bad(format!(
                            "target_share {s:?} must be a share from 0 to 1"
                        )));
                    }
                },
            };
            if out
                .insert(
                    code.clone(),
                    Target {
                        potential,
                        covered,
                        baseline: cols[3].to_owned(),
                        target_share,
                    },
                )
                .is_some()
            {
                return Err(bad(format!("area {code} is listed twice")));
            }
        }
        if !header {
            return Err(TargetsError {
                line: 1,
                why: "the file is empty: it needs the header code,potential,covered,baseline,target_share".into(),
            });
        }
        Ok(Targets(out))
    }

    /// Reads a targets file.
    pub fn load(path: &std::path::Path) -> Result<Targets, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read coverage targets {}: {e}", path.display()))?;
        Targets::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The target of area `code`, if set.
    pub fn get(&self, code: &str) -> Option<&Target> {
        self.0.get(code)
    }
}

/// Where an area stands against its target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    /// Potential informal workers.
    pub potential: u64,
    /// Covered at the baseline.
    pub covered_baseline: u64,
    /// Where the baseline comes from.
    pub baseline: String,
    /// Registrations sidak brought to `verified` or `enrolled`.
    pub covered_since: u64,
    /// Baseline plus those, at most the potential.
    pub covered: u64,
    /// `covered / potential`, rounded to 0.1 %.
    pub share: f64,
    /// The share aimed for.
    pub target_share: Option<f64>,
    /// Workers still to cover to reach it (0 once reached).
    pub to_target: Option<u64>,
}

impl Progress {
    /// `t` with `since` workers covered through sidak.
    pub fn new(t: &Target, since: u64) -> Progress {
        let covered = t.covered.saturating_add(since).min(t.potential);
        let share = (covered as f64 / t.potential as f64 * 1000.0).round() / 1000.0;
        Progress {
            potential: t.potential,
            covered_baseline: t.covered,
            baseline: t.baseline.clone(),
            covered_since: since,
            covered,
            share,
            target_share: t.target_share,
            to_target: t
                .target_share
                .map(|s| ((s * t.potential as f64).ceil() as u64).saturating_sub(covered)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_reads() {
        let t = Targets::parse(SHIPPED).unwrap_or_default();
        let p = t.get("73").map(|t| Progress::new(t, 1_000));
        assert_eq!(p.as_ref().map(|p| p.share), Some(0.4));
        assert_eq!(
            p.as_ref().and_then(|p| p.to_target),
            Some(1_435_000 - 1_149_000)
        );
    }

    #[test]
    fn every_bad_line_is_named() {
        let head = "code,potential,covered,baseline,target_share\n";
        for (body, line, part) in [
            ("", 1, "empty"),
            ("code,potential\n", 1, "header"),
            ("73.04,100,10,x,\n73.04,100,10,y,\n", 3, "twice"),
            ("73x,100,10,x,\n", 2, "region code"),
            ("7304,0,0,x,\n", 2, "above 0"),
            ("7304,10,11,x,\n", 2, "more than"),
            ("7304,ten,1,x,\n", 2, "whole number"),
            ("7304,10,1,x,1.5\n", 2, "share"),
            ("7304,10,1,\"x, y\",\n", 2, "quoted"),
            ("7304,10,1\n", 2, "5 columns"),
        ] {
            let text = if body.starts_with("code,potential\n") || body.is_empty() {
                body.to_owned()
            } else {
                format!("{head}{body}")
            };
            let e = Targets::parse(&text).err().unwrap_or(TargetsError {
                line: 0,
                why: String::new(),
            });
            assert_eq!(e.line, line, "{body:?}: {e}");
            assert!(e.why.contains(part), "{body:?}: {e}");
        }
        let ok = Targets::parse(&format!("{head}# comment\n73.04,1_000,250,BPS 2024,\n"))
            .unwrap_or_default();
        assert_eq!(
            ok.get("7304").map(|t| (t.potential, t.target_share)),
            Some((1000, None))
        );
        let full = Progress::new(
            &Target {
                potential: 10,
                covered: 9,
                baseline: String::new(),
                target_share: Some(0.5),
            },
            5,
        );
        assert_eq!(
            (full.covered, full.share, full.to_target),
            (10, 1.0, Some(0))
        );
    }
}
