//! Where each company's case stands (docs/domain.md, *The stages of a case*): the stage its
//! visits reached (educational visit, nota I, nota II, enforcement, legal action), the
//! findings still open and their earliest deadline, whether it passed, and who the case waits
//! on; with the company's visits in order as its compliance history. Pure: the caller loads
//! the records, so every backend answers alike.
//!
//! A finding is open while its status is `open`, `not_complied` or `escalated`, unless a
//! later finding was carried from it (`carried_from`): the carried one stands in its place.
//! Cancelled and archived visits and archived findings do not count.

use std::collections::{HashMap, HashSet};

use sidak_core::{Kind, Record, RecordId};

/// The stages in order.
pub const STAGES: [&str; 5] = ["none", "nota_1", "nota_2", "enforcement", "legal"];

/// Finding statuses that keep a case open.
pub const OPEN: [&str; 3] = ["open", "not_complied", "escalated"];

/// Who a case waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitingOn {
    /// Nothing open: settled (or nothing found).
    Nobody,
    /// The company, to settle open findings before their deadline.
    Company,
    /// The team, to set a deadline for open findings that have none.
    TeamDeadline,
    /// The team, to issue nota II: a nota I (or educational) deadline passed.
    TeamNota2,
    /// The office, to refer the company for enforcement: a nota II deadline passed.
    OfficeEnforcement,
    /// The enforcement or legal process under way.
    Enforcement,
}

impl WaitingOn {
    /// Its stable code.
    pub fn code(self) -> &'static str {
        match self {
            WaitingOn::Nobody => "nobody",
            WaitingOn::Company => "company",
            WaitingOn::TeamDeadline => "team_deadline",
            WaitingOn::TeamNota2 => "team_nota_2",
            WaitingOn::OfficeEnforcement => "office_enforcement",
            WaitingOn::Enforcement => "enforcement",
        }
    }
}

/// One visit of a company's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitStep {
    /// The visit.
    pub visit: RecordId,
    /// Its day: started, else scheduled (`YYYY-MM-DD`), if known.
    pub date: Option<String>,
    /// Its status.
    pub status: Option<String>,
    /// The stage it recorded.
    pub stage: &'static str,
    /// The visit it follows up, if any.
    pub follows: Option<RecordId>,
    /// Workers seen and registered, as recorded.
    pub workers_observed: Option<i64>,
    /// Workers BPJS shows as registered.
    pub workers_registered: Option<i64>,
    /// Its findings still open.
    pub findings_open: u32,
    /// Its findings settled (complied, closed, or carried into a later visit).
    pub findings_settled: u32,
}

/// One company's case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The company.
    pub company: RecordId,
    /// The stage its visits reached.
    pub stage: &'static str,
    /// Findings still open across its visits.
    pub open_findings: u32,
    /// The earliest deadline among them (or the last visit's follow-up deadline).
    pub deadline: Option<String>,
    /// Days past that deadline (`today` minus it), when it passed.
    pub overdue_days: Option<i64>,
    /// Who the case waits on.
    pub waiting_on: WaitingOn,
    /// Its visits, oldest first.
    pub visits: Vec<VisitStep>,
}

fn stage_rank(s: &str) -> usize {
    STAGES.iter().position(|x| *x == s).unwrap_or(0)
}

/// Days from `a` to `b` (`YYYY-MM-DD` each), if both parse.
fn days_between(a: &str, b: &str) -> Option<i64> {
    let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    Some((d(b)? - d(a)?).num_days())
}

fn visit_date(v: &Record) -> Option<String> {
    v.get_str("started_at")
        .and_then(|t| t.get(..10))
        .or_else(|| v.get_str("scheduled_date"))
        .map(str::to_owned)
}

/// The cases of `companies`, from all the `visits` and `findings` the caller loaded, as of
/// `today` (`YYYY-MM-DD`, office time). Companies with no counted visit are left out.
pub fn cases(
    companies: &[Record],
    visits: &[Record],
    findings: &[Record],
    today: &str,
) -> Vec<Case> {
    let carried: HashSet<String> = findings
        .iter()
        .filter(|f| f.get_str("status") != Some("archived"))
        .filter_map(|f| f.get_str("carried_from").map(str::to_owned))
        .collect();
    let mut by_visit: HashMap<String, Vec<&Record>> = HashMap::new();
    for f in findings {
        if f.kind != Kind::Finding || f.get_str("status") == Some("archived") {
            continue;
        }
        if let Some(v) = f.get_str("visit") {
            by_visit.entry(v.to_owned()).or_default().push(f);
        }
    }
    let mut by_company: HashMap<String, Vec<&Record>> = HashMap::new();
    for v in visits {
        if v.kind != Kind::Visit || matches!(v.get_str("status"), Some("cancelled" | "archived")) {
            continue;
        }
        if let Some(c) = v.get_str("company") {
            by_company.entry(c.to_owned()).or_default().push(v);
        }
    }
    let mut out = Vec::new();
    for company in companies {
        let Some(vs) = by_company.get(&company.id.to_string()) else {
            continue;
        };
        let mut vs = vs.clone();
        vs.sort_by_key(|v| (visit_date(v), v.created));
        let mut steps = Vec::new();
        let mut stage = "none";
        let mut open = 0u32;
        let mut deadline: Option<String> = None;
        for v in &vs {
            let s = v.get_str("nota_stage").unwrap_or("none");
            let s = STAGES[stage_rank(s)];
            if stage_rank(s) >= stage_rank(stage) {
                stage = s;
            }
            let fs = by_visit
                .get(&v.id.to_string())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let mut v_open = 0;
            let mut v_settled = 0;
            for f in fs {
                let is_open = f.get_str("status").is_some_and(|st| OPEN.contains(&st))
                    && !carried.contains(&f.id.to_string());
                if is_open {
                    v_open += 1;
                    if let Some(d) = f.get_str("deadline")
                        && deadline.as_deref().is_none_or(|x| d < x)
                    {
                        deadline = Some(d.to_owned());
                    }
                } else {
                    v_settled += 1;
                }
            }
            open += v_open;
            steps.push(VisitStep {
                visit: v.id,
                date: visit_date(v),
                status: v.get_str("status").map(str::to_owned),
                stage: s,
                follows: v.get_str("follows").and_then(|x| x.parse().ok()),
                workers_observed: v.get("workers_observed").and_then(|x| x.as_int()),
                workers_registered: v.get("workers_registered").and_then(|x| x.as_int()),
                findings_open: v_open,
                findings_settled: v_settled,
            });
        }
        if deadline.is_none() && open > 0 {
            deadline = vs
                .last()
                .and_then(|v| v.get_str("follow_up_deadline"))
                .map(str::to_owned);
        }
        let overdue_days = deadline
            .as_deref()
            .and_then(|d| days_between(d, today))
            .filter(|n| *n > 0 && open > 0);
        let waiting_on = if stage_rank(stage) >= stage_rank("enforcement") {
            WaitingOn::Enforcement
        } else if open == 0 {
            WaitingOn::Nobody
        } else if deadline.is_none() {
            WaitingOn::TeamDeadline
        } else if overdue_days.is_none() {
            WaitingOn::Company
        } else if stage == "nota_2" {
            WaitingOn::OfficeEnforcement
        } else {
            WaitingOn::TeamNota2
        };
        out.push(Case {
            company: company.id,
            stage,
            open_findings: open,
            deadline,
            overdue_days,
            waiting_on,
            visits: steps,
        });
    }
    // Most overdue first, then the nearest deadline, then the rest.
    out.sort_by(|a, b| {
        b.overdue_days
            .unwrap_or(i64::MIN)
            .cmp(&a.overdue_days.unwrap_or(i64::MIN))
            .then_with(|| match (&a.deadline, &b.deadline) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.company.cmp(&b.company))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sidak_core::{DeviceId, Edit, Hlc};

    const V: &str = "7371011001";

    struct World {
        n: u128,
        ms: u64,
    }

    impl World {
        fn make(&mut self, kind: Kind, fields: &[(&str, &str)]) -> Record {
            self.n += 1;
            self.ms += 1;
            let id = RecordId::from_u128(self.n);
            let hlc = Hlc::new(1_764_050_400_000 + self.ms, 0, DeviceId::from_u128(9));
            let mut e = Edit::create(id, kind, V, hlc);
            for (k, v) in fields {
                e = match *k {
                    "workers_observed" => e.set(k, v.parse::<i64>().unwrap_or(0)),
                    "team" => e.add(k, *v),
                    _ => e.set(k, *v),
                }
                .unwrap_or_else(|err| panic!("{k}: {err}"));
            }
            let op = e.finish();
            let mut r = Record::new(id, kind, V);
            r.apply(&op).unwrap_or_else(|err| panic!("{err}"));
            r
        }
    }

    #[test]
    fn stages_deadlines_and_who_a_case_waits_on() {
        let mut w = World { n: 0, ms: 0 };
        let company = |w: &mut World, name: &str| {
            w.make(
                Kind::Company,
                &[
                    ("name", name),
                    ("compliance", "unknown"),
                    ("status", "active"),
                ],
            )
        };
        let visit =
            |w: &mut World, c: &Record, stage: &str, date: &str, follows: Option<&Record>| {
                let c = c.id.to_string();
                let f = follows.map(|f| f.id.to_string());
                let mut fields = vec![
                    ("company", c.as_str()),
                    ("status", "completed"),
                    ("nota_stage", stage),
                    ("scheduled_date", date),
                ];
                if let Some(f) = &f {
                    fields.push(("follows", f.as_str()));
                }
                w.make(Kind::Visit, &fields)
            };
        let finding = |w: &mut World,
                       v: &Record,
                       status: &str,
                       deadline: Option<&str>,
                       from: Option<&Record>| {
            let v = v.id.to_string();
            let from = from.map(|f| f.id.to_string());
            let mut fields = vec![
                ("visit", v.as_str()),
                ("type", "workers_not_registered"),
                ("status", status),
            ];
            if let Some(d) = deadline {
                fields.push(("deadline", d));
            }
            if let Some(f) = &from {
                fields.push(("carried_from", f.as_str()));
            }
            w.make(Kind::Finding, &fields)
        };
        let a = company(&mut w, "A: nota I passed");
        let b = company(&mut w, "B: nota II passed");
        let c = company(&mut w, "C: settled");
        let d = company(&mut w, "D: due later");
        let e = company(&mut w, "E: no deadline");
        let f = company(&mut w, "F: never visited");
        let va = visit(&mut w, &a, "nota_1", "2026-11-01", None);
        let fa = finding(&mut w, &va, "open", Some("2026-12-01"), None);
        let vb1 = visit(&mut w, &b, "nota_1", "2026-10-01", None);
        let fb1 = finding(&mut w, &vb1, "not_complied", Some("2026-11-01"), None);
        let vb2 = visit(&mut w, &b, "nota_2", "2026-11-05", Some(&vb1));
        let fb2 = finding(&mut w, &vb2, "open", Some("2026-11-19"), Some(&fb1));
        let vc = visit(&mut w, &c, "nota_1", "2026-11-01", None);
        let fc = finding(&mut w, &vc, "complied", Some("2026-11-20"), None);
        let vd = visit(&mut w, &d, "nota_1", "2026-11-25", None);
        let fd = finding(&mut w, &vd, "open", Some("2026-12-25"), None);
        let ve = visit(&mut w, &e, "none", "2026-11-28", None);
        let fe = finding(&mut w, &ve, "open", None, None);
        let cancelled = w.make(
            Kind::Visit,
            &[
                ("company", &f.id.to_string()),
                ("status", "cancelled"),
                ("nota_stage", "nota_1"),
            ],
        );
        let companies = [
            a.clone(),
            b.clone(),
            c.clone(),
            d.clone(),
            e.clone(),
            f.clone(),
        ];
        let visits = [va, vb1, vb2.clone(), vc, vd, ve, cancelled];
        let findings = [fa, fb1, fb2, fc, fd, fe];
        let got = cases(&companies, &visits, &findings, "2026-12-03");
        let order: Vec<RecordId> = got.iter().map(|c| c.company).collect();
        assert_eq!(
            order,
            vec![b.id, a.id, d.id, c.id, e.id],
            "most overdue first; F has no counted visit"
        );
        let by = |id: RecordId| {
            got.iter()
                .find(|c| c.company == id)
                .cloned()
                .unwrap_or_else(|| panic!("{id}"))
        };
        let cb = by(b.id);
        assert_eq!(
            (
                cb.stage,
                cb.open_findings,
                cb.deadline.as_deref(),
                cb.overdue_days
            ),
            ("nota_2", 1, Some("2026-11-19"), Some(14))
        );
        assert_eq!(cb.waiting_on, WaitingOn::OfficeEnforcement);
        assert_eq!(cb.visits.len(), 2);
        assert_eq!(
            cb.visits[0].findings_settled, 1,
            "the first finding was carried into the follow-up"
        );
        assert_eq!(cb.visits[1].follows, Some(cb.visits[0].visit));
        assert_eq!(cb.visits[1].stage, "nota_2");
        let ca = by(a.id);
        assert_eq!(
            (ca.overdue_days, ca.waiting_on),
            (Some(2), WaitingOn::TeamNota2)
        );
        assert_eq!(by(c.id).waiting_on, WaitingOn::Nobody);
        assert_eq!(by(c.id).overdue_days, None);
        assert_eq!(
            (by(d.id).waiting_on, by(d.id).overdue_days),
            (WaitingOn::Company, None)
        );
        assert_eq!(by(e.id).waiting_on, WaitingOn::TeamDeadline);
        assert_eq!(
            vb2.get_str("follows").map(str::to_owned),
            Some(cb.visits[0].visit.to_string())
        );
    }
}
