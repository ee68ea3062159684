//! Validation of values and ops: every problem with a stable code, never a panic.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::ids::RecordId;
use crate::op::{Action, Op};
use crate::record::Record;
use crate::region::{Level, Regions};
use crate::schema::{Element, FieldSpec, FieldType, Kind, Register};
use crate::value::Value;

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The edit is refused.
    Error,
    /// The edit is kept; the problem is shown (real ID cards have such mismatches).
    Warning,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code, such as `invalid_nik`.
    pub code: &'static str,
    /// The field concerned, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// What is wrong, for a person.
    pub message: String,
}

impl Problem {
    fn error(code: &'static str, field: Option<&'static str>, message: String) -> Self {
        Self {
            severity: Severity::Error,
            code,
            field,
            message,
        }
    }

    fn warning(code: &'static str, field: Option<&'static str>, message: String) -> Self {
        Self {
            severity: Severity::Warning,
            code,
            field,
            message,
        }
    }
}

/// What validation found: errors refuse the edit, warnings do not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every problem, in the order found.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Whether there is no error (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
    }

    /// One line joining every error's message (for error replies).
    pub fn error_summary(&self) -> String {
        self.errors()
            .map(|p| p.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What the validator may ask about other records (references must point at the right kind).
pub trait References {
    /// The kind of record `id`, if this replica holds it.
    fn kind_of(&self, id: RecordId) -> Option<Kind>;
}

/// A replica that holds no other records (every reference is then only a warning).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReferences;

impl References for NoReferences {
    fn kind_of(&self, _id: RecordId) -> Option<Kind> {
        None
    }
}

/// What a NIK says about its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NikInfo {
    /// Day of birth (1-31), with the 40 for women taken off.
    pub day: u32,
    /// Month of birth.
    pub month: u32,
    /// Two-digit year of birth.
    pub yy: u32,
    /// Whether the day carries the +40 of women.
    pub female: bool,
}

/// Checks a NIK: 16 digits, a known province/regency/district, a real birth date
/// (day + 40 for women), a sequence that is not 0000. NIK has no check digit.
pub fn check_nik(nik: &str) -> Result<NikInfo, String> {
    if nik.len() != 16 || !nik.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "NIK must be exactly 16 digits, got {:?}",
            clip(nik)
        ));
    }
    let district = &nik[..6];
    let regions = Regions::get();
    if regions
        .lookup(district)
        .is_none_or(|r| r.level != Level::District)
    {
        return Err(format!(
            "NIK {} starts with {district}, which is not a known province/regency/district code",
            mask_nik(nik)
        ));
    }
    let num = |a: usize| nik[a..a + 2].parse::<u32>().unwrap_or(0);
    let (mut day, month, yy) = (num(6), num(8), num(10));
    let female = day > 40;
    if female {
        day -= 40;
    }
    let real = [1900, 2000]
        .iter()
        .any(|c| NaiveDate::from_ymd_opt((c + yy) as i32, month, day).is_some());
    if !real {
        return Err(format!(
            "NIK {}: digits 7-12 ({}) are not a real birth date (DDMMYY, day + 40 for women)",
            mask_nik(nik),
            &nik[6..12]
        ));
    }
    if &nik[12..] == "0000" {
        return Err(format!(
            "NIK {}: the last four digits may not be 0000",
            mask_nik(nik)
        ));
    }
    Ok(NikInfo {
        day,
        month,
        yy,
        female,
    })
}

/// A NIK with its middle hidden for lists and exports: `7371********0003`.
pub fn mask_nik(nik: &str) -> String {
    if nik.len() == 16 && nik.is_ascii() {
        format!("{}********{}", &nik[..4], &nik[12..])
    } else {
        "****".to_owned()
    }
}

/// Removes spaces and dashes from a phone number.
pub fn normalize_phone(phone: &str) -> String {
    phone.chars().filter(|c| !matches!(c, ' ' | '-')).collect()
}

/// Checks an Indonesian mobile number: `08`, `628` or `+628`, then 7 to 11 more digits.
pub fn check_phone(phone: &str) -> Result<(), String> {
    let rest = phone
        .strip_prefix("+628")
        .or_else(|| phone.strip_prefix("628"))
        .or_else(|| phone.strip_prefix("08"));
    match rest {
        Some(r)
            if (7..=11).contains(&r.len())
                && r.bytes().all(|b| b.is_ascii_digit())
                && !r.starts_with('0') =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{:?} is not an Indonesian mobile number (08…, 628… or +628…, 10 to 14 digits, no spaces)",
            clip(phone)
        )),
    }
}

/// Parses a `YYYY-MM-DD` date between 1900 and 2100.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    (s.len() == 10 && (1900..=2100).contains(&d.year())).then_some(d)
}

/// Whether `s` is a GPS position `lat,lon` in decimal degrees, in range.
pub fn is_geo(s: &str) -> bool {
    let Some((lat, lon)) = s.split_once(',') else {
        return false;
    };
    match (lat.trim().parse::<f64>(), lon.trim().parse::<f64>()) {
        (Ok(lat), Ok(lon)) => (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon),
        _ => false,
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// Checks one value against a field's type; `Null` is checked by the caller.
pub fn check_value(spec: &FieldSpec, value: &Value, refs: &dyn References) -> Vec<Problem> {
    let name = Some(spec.name);
    let mut out = Vec::new();
    let mut err = |code, msg: String| out.push(Problem::error(code, name, msg));
    let want_text = |v: &Value| v.as_str().map(str::to_owned);
    match (spec.ty, value) {
        (FieldType::Int { min, max }, Value::Int(n)) => {
            if *n < min || *n > max {
                err(
                    "out_of_range",
                    format!("{}: {n} is outside {min}..={max}", spec.name),
                );
            }
        }
        (FieldType::Bool, Value::Bool(_)) => {}
        (FieldType::Int { .. } | FieldType::Bool | FieldType::Set(_), _) => err(
            "invalid_type",
            format!("{}: {value:?} has the wrong type", spec.name),
        ),
        (ty, v) => {
            let Some(s) = want_text(v) else {
                err(
                    "invalid_type",
                    format!("{}: expected text, got {v:?}", spec.name),
                );
                return out;
            };
            match ty {
                FieldType::Text { max_len } => {
                    let n = s.chars().count();
                    if n > max_len {
                        err(
                            "too_long",
                            format!("{}: {n} characters, at most {max_len}", spec.name),
                        );
                    } else if s.trim().is_empty() {
                        err(
                            "empty_text",
                            format!("{}: text is blank; send null to clear", spec.name),
                        );
                    } else if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                        err(
                            "invalid_text",
                            format!("{}: control characters are not allowed", spec.name),
                        );
                    }
                }
                FieldType::Date => {
                    if parse_date(&s).is_none() {
                        err(
                            "invalid_date",
                            format!("{}: {:?} is not a date YYYY-MM-DD", spec.name, clip(&s)),
                        );
                    }
                }
                FieldType::DateTime => {
                    if chrono::DateTime::parse_from_rfc3339(&s).is_err() {
                        err(
                            "invalid_datetime",
                            format!(
                                "{}: {:?} is not an RFC 3339 time like 2026-11-25T09:30:00+08:00",
                                spec.name,
                                clip(&s)
                            ),
                        );
                    }
                }
                FieldType::Enum(allowed) => {
                    if !allowed.contains(&s.as_str()) {
                        err(
                            "not_in_enum",
                            format!(
                                "{}: {:?} is not one of {}",
                                spec.name,
                                clip(&s),
                                allowed.join(", ")
                            ),
                        );
                    }
                }
                FieldType::Nik => {
                    if let Err(m) = check_nik(&s) {
                        err("invalid_nik", m);
                    }
                }
                FieldType::Phone => {
                    if let Err(m) = check_phone(&s) {
                        err("invalid_phone", format!("{}: {m}", spec.name));
                    }
                }
                FieldType::Geo => {
                    if !is_geo(&s) {
                        err(
                            "invalid_geo",
                            format!(
                                "{}: {:?} is not \"lat,lon\" in degrees",
                                spec.name,
                                clip(&s)
                            ),
                        );
                    }
                }
                FieldType::Digits(n) => {
                    if s.len() != n || !s.bytes().all(|b| b.is_ascii_digit()) {
                        err(
                            "invalid_digits",
                            format!(
                                "{}: must be exactly {n} digits, got {:?}",
                                spec.name,
                                clip(&s)
                            ),
                        );
                    }
                }
                FieldType::Npwp => {
                    if !matches!(s.len(), 15 | 16) || !s.bytes().all(|b| b.is_ascii_digit()) {
                        err(
                            "invalid_npwp",
                            format!(
                                "{}: NPWP is 16 digits (or the old 15), got {:?}",
                                spec.name,
                                clip(&s)
                            ),
                        );
                    }
                }
                FieldType::Ref(kind) => match s.parse::<RecordId>() {
                    Err(_) => err(
                        "invalid_reference",
                        format!("{}: {:?} is not a record id", spec.name, clip(&s)),
                    ),
                    Ok(id) => match refs.kind_of(id) {
                        Some(k) if k != kind => err(
                            "wrong_reference",
                            format!("{}: record {id} is a {k}, not a {kind}", spec.name),
                        ),
                        Some(_) => {}
                        None => out.push(Problem::warning(
                            "unknown_reference",
                            name,
                            format!("{}: {kind} {id} is not known here yet", spec.name),
                        )),
                    },
                },
                FieldType::Int { .. } | FieldType::Bool | FieldType::Set(_) => {}
            }
        }
    }
    out
}

fn check_element(spec: &FieldSpec, element: &str) -> Option<Problem> {
    let FieldType::Set(el) = spec.ty else {
        return None;
    };
    let name = Some(spec.name);
    match el {
        Element::Enum(allowed) if !allowed.contains(&element) => Some(Problem::error(
            "not_in_enum",
            name,
            format!(
                "{}: {:?} is not one of {}",
                spec.name,
                clip(element),
                allowed.join(", ")
            ),
        )),
        Element::Text { max_len }
            if element.chars().count() > max_len || element.trim().is_empty() =>
        {
            Some(Problem::error(
                "invalid_element",
                name,
                format!("{}: element must be 1 to {max_len} characters", spec.name),
            ))
        }
        Element::Attachment => crate::attachment::ContentRef::parse(element)
            .err()
            .map(|e| Problem::error(e.code(), name, format!("{}: {e}", spec.name))),
        _ => None,
    }
}

/// Validates an op against its kind's schema and, if given, the record as this replica holds it.
///
/// Checks every value, that a create op carries every required field, the region
/// code, and the rules of each kind (an informal worker's programmes: JKK and JKM
/// always, JHT optional, JP and JKP refused; a NIK that disagrees with the declared
/// birth date or sex is a warning).
pub fn validate_op(op: &Op, current: Option<&Record>, refs: &dyn References) -> Report {
    let mut problems = Vec::new();
    if !Regions::get().is_record_village(&op.region) {
        problems.push(Problem::error(
            "invalid_region",
            None,
            format!(
                "region {:?} is not a known village code (10 digits, e.g. 7371011001)",
                clip(&op.region)
            ),
        ));
    }
    if let Some(r) = current
        && (r.kind != op.kind || r.region != op.region)
    {
        problems.push(Problem::error(
            "record_mismatch",
            None,
            format!(
                "record {} is a {} in {}, not a {} in {}",
                r.id, r.kind, r.region, op.kind, op.region
            ),
        ));
    }
    let schema = op.kind.schema();
    for change in &op.changes {
        let Some(spec) = schema.field(change.field) else {
            continue;
        };
        match &change.action {
            Action::Set(Value::Null) => {
                if spec.required {
                    problems.push(Problem::error(
                        "required",
                        Some(spec.name),
                        format!("{} is required and cannot be cleared", spec.name),
                    ));
                }
            }
            Action::Set(v) => problems.extend(check_value(spec, v, refs)),
            Action::Add(e) => problems.extend(check_element(spec, e)),
            Action::Remove(_) => {}
        }
    }
    if op.create {
        for spec in schema.fields.iter().filter(|f| f.required) {
            let present = op.changes.iter().any(|c| {
                c.field == spec.name
                    && match &c.action {
                        Action::Set(v) => !v.is_null(),
                        Action::Add(_) => true,
                        Action::Remove(_) => false,
                    }
            });
            if !present {
                problems.push(Problem::error(
                    "missing_field",
                    Some(spec.name),
                    format!("a new {} needs {} ({})", op.kind, spec.name, spec.label),
                ));
            }
        }
    }
    if op.kind == Kind::Worker {
        worker_rules(op, current, &mut problems);
    }
    Report { problems }
}

fn worker_rules(op: &Op, current: Option<&Record>, problems: &mut Vec<Problem>) {
    const FIELD: Option<&str> = Some("programmes");
    for change in op.changes.iter().filter(|c| c.field == "programmes") {
        match &change.action {
            Action::Add(p) if p == "JP" || p == "JKP" => problems.push(Problem::error(
                "programme_not_allowed",
                FIELD,
                format!("{p} is only for wage earners; informal workers join JKK and JKM, and optionally JHT"),
            )),
            Action::Remove(p) if p == "JKK" || p == "JKM" => problems.push(Problem::error(
                "programme_required",
                FIELD,
                format!("{p} is mandatory for informal workers and cannot be removed"),
            )),
            _ => {}
        }
    }
    if op.create {
        for p in ["JKK", "JKM"] {
            let added = op
                .changes
                .iter()
                .any(|c| c.field == "programmes" && matches!(&c.action, Action::Add(e) if e == p));
            if !added {
                problems.push(Problem::error(
                    "programme_required",
                    FIELD,
                    format!(
                        "a new registration must include {p} (JKK and JKM are mandatory together)"
                    ),
                ));
            }
        }
    }
    // Cross-check NIK with birth date and sex, on the values the record will hold.
    let after = |field: &str| -> Option<String> {
        op.changes
            .iter()
            .find_map(|c| match &c.action {
                Action::Set(v) if c.field == field => Some(v.as_str().map(str::to_owned)),
                _ => None,
            })
            .unwrap_or_else(|| current.and_then(|r| r.get_str(field)).map(str::to_owned))
    };
    let touches = op
        .changes
        .iter()
        .any(|c| matches!(c.field, "nik" | "birth_date" | "sex"));
    if !touches {
        return;
    }
    let Some(nik) = after("nik") else { return };
    let Ok(info) = check_nik(&nik) else { return };
    if let Some(date) = after("birth_date").as_deref().and_then(parse_date) {
        let matches = date.day() == info.day
            && date.month() == info.month
            && (date.year() % 100) as u32 == info.yy;
        if !matches {
            problems.push(Problem::warning(
                "nik_birth_date_mismatch",
                Some("birth_date"),
                format!(
                    "birth date {date} differs from the NIK's {:02}-{:02}-{:02} (DD-MM-YY); check the ID card",
                    info.day, info.month, info.yy
                ),
            ));
        }
    }
    if let Some(sex) = after("sex") {
        let nik_sex = if info.female { "female" } else { "male" };
        if (sex == "female" || sex == "male") && sex != nik_sex {
            problems.push(Problem::warning(
                "nik_sex_mismatch",
                Some("sex"),
                format!("sex {sex} differs from the NIK, which says {nik_sex}; check the ID card"),
            ));
        }
    }
}

/// Checks that a scope prefix is a known region code (province, regency, district or village).
pub fn check_scope_prefix(prefix: &str) -> Result<(), String> {
    if Regions::get().is_known(prefix) && prefix.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a known region code without dots (province 73, regency 7371, district 737101 or village 7371011001)",
            clip(prefix)
        ))
    }
}

/// Whether the register of `spec` keeps concurrent values.
pub fn keeps_conflicts(spec: &FieldSpec) -> bool {
    spec.register == Register::Mv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::Edit;
    use crate::hlc::Hlc;
    use crate::ids::DeviceId;

    const VILLAGE: &str = "7371011001";

    fn hlc() -> Hlc {
        Hlc::new(1_764_000_000_000, 0, DeviceId::from_u128(1))
    }

    fn worker() -> Edit<'static> {
        Edit::create(RecordId::from_u128(9), Kind::Worker, VILLAGE, hlc())
            .set("nik", "7371015506900003")
            .unwrap()
            .set("full_name", "Hasnah Daeng Ngai")
            .unwrap()
            .set("birth_date", "1990-06-15")
            .unwrap()
            .set("sex", "female")
            .unwrap()
            .set("occupation", "fisher")
            .unwrap()
            .set("monthly_income", 1_500_000i64)
            .unwrap()
            .add("programmes", "JKK")
            .unwrap()
            .add("programmes", "JKM")
            .unwrap()
            .set("payer", "self")
            .unwrap()
            .set("consent", true)
            .unwrap()
            .set("status", "submitted")
            .unwrap()
    }

    fn codes(r: &Report) -> Vec<&'static str> {
        r.problems.iter().map(|p| p.code).collect()
    }

    #[test]
    fn a_complete_registration_is_valid() {
        let r = validate_op(&worker().finish(), None, &NoReferences);
        assert_eq!(r.problems, vec![]);
    }

    #[test]
    fn nik_rules() {
        assert!(check_nik("7371015506900003").is_ok());
        let info = check_nik("7371011506900003").unwrap();
        assert!(!info.female);
        assert_eq!((info.day, info.month, info.yy), (15, 6, 90));
        assert!(check_nik("737101550690000").is_err(), "15 digits");
        assert!(check_nik("73710155069000a3").is_err(), "a letter");
        assert!(check_nik("9999015506900003").is_err(), "unknown district");
        assert!(check_nik("7371013206900003").is_err(), "day 32");
        assert!(check_nik("7371017206900003").is_err(), "day 72 (32 + 40)");
        assert!(check_nik("7371013002900003").is_err(), "30 February");
        assert!(check_nik("7371012902000003").is_ok(), "29 February 2000");
        assert!(check_nik("7371011513900003").is_err(), "month 13");
        assert!(check_nik("7371015506900000").is_err(), "sequence 0000");
        assert!(check_nik("3171011506900003").is_ok(), "Jakarta district");
    }

    #[test]
    fn nik_disagreeing_with_birth_date_or_sex_is_a_warning() {
        let op = worker()
            .set("birth_date", "1990-06-16")
            .unwrap()
            .set("sex", "male")
            .unwrap()
            .finish();
        let r = validate_op(&op, None, &NoReferences);
        assert!(r.is_ok());
        assert_eq!(
            codes(&r),
            vec!["nik_birth_date_mismatch", "nik_sex_mismatch"]
        );
    }

    #[test]
    fn attachments_are_checked_as_content_references() {
        use crate::attachment::{BlobHash, ContentRef};
        let photo = ContentRef::new(BlobHash::of(b"ktp"), 301_234, "image/jpeg").unwrap();
        let op = worker()
            .add("attachments", photo.to_element().as_str())
            .unwrap()
            .finish();
        assert_eq!(validate_op(&op, None, &NoReferences).problems, vec![]);
        for (bad, code) in [
            ("ktp.jpg".to_owned(), "invalid_attachment"),
            (
                photo.to_element().replace("image/jpeg", "text/html"),
                "media_type_not_allowed",
            ),
            (
                photo.to_element().replace("301234", "99999999999"),
                "blob_too_large",
            ),
        ] {
            let op = worker().add("attachments", bad.as_str()).unwrap().finish();
            assert_eq!(codes(&validate_op(&op, None, &NoReferences)), vec![code]);
        }
    }

    #[test]
    fn masks_nik() {
        assert_eq!(mask_nik("7371015506900003"), "7371********0003");
        assert_eq!(mask_nik("short"), "****");
    }

    #[test]
    fn phones() {
        for ok in [
            "081234567890",
            "+6281234567890",
            "6285298765432",
            "0811234567",
        ] {
            assert!(check_phone(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "0211234567",
            "08123",
            "0812345678901234",
            "+62 812 345",
            "08a234567890",
            "0801234567",
        ] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
        assert_eq!(normalize_phone("0812-3456 7890"), "081234567890");
    }

    #[test]
    fn missing_fields_and_programmes() {
        let op = Edit::create(RecordId::from_u128(9), Kind::Worker, VILLAGE, hlc())
            .set("nik", "7371015506900003")
            .unwrap()
            .add("programmes", "JP")
            .unwrap()
            .finish();
        let r = validate_op(&op, None, &NoReferences);
        let c = codes(&r);
        assert!(c.contains(&"missing_field"));
        assert!(c.contains(&"programme_not_allowed"));
        assert_eq!(c.iter().filter(|c| **c == "programme_required").count(), 2);
        assert!(r.problems.iter().all(|p| !p.message.is_empty()));
    }

    #[test]
    fn removing_a_mandatory_programme_is_refused() {
        let rec = {
            let op = worker().finish();
            let mut r = Record::for_op(&op);
            r.apply(&op).unwrap();
            r
        };
        let op = Edit::update(&rec, hlc())
            .remove("programmes", "JKM")
            .unwrap()
            .add("programmes", "JHT")
            .unwrap()
            .finish();
        assert_eq!(
            codes(&validate_op(&op, Some(&rec), &NoReferences)),
            vec!["programme_required"]
        );
    }

    #[test]
    fn value_rules() {
        let cases: &[(&str, Value, &str)] = &[
            ("monthly_income", Value::Int(999_999), "out_of_range"),
            ("monthly_income", Value::from("1500000"), "invalid_type"),
            ("occupation", Value::from("astronaut"), "not_in_enum"),
            ("phone", Value::from("12345"), "invalid_phone"),
            ("birth_date", Value::from("1990-02-30"), "invalid_date"),
            ("birth_date", Value::from("15/06/1990"), "invalid_date"),
            ("full_name", Value::from("x".repeat(201)), "too_long"),
            ("full_name", Value::from("   "), "empty_text"),
            ("full_name", Value::Null, "required"),
            ("consent", Value::from("yes"), "invalid_type"),
            ("nik", Value::from("123"), "invalid_nik"),
            (
                "duplicate_of",
                Value::from("not-a-uuid"),
                "invalid_reference",
            ),
        ];
        for (field, value, code) in cases {
            let op = worker().set(field, value.clone()).unwrap().finish();
            let r = validate_op(&op, None, &NoReferences);
            assert!(
                codes(&r).contains(code),
                "{field}={value:?}: {:?}",
                codes(&r)
            );
        }
    }

    #[test]
    fn regions_and_references() {
        let op = Edit::create(RecordId::from_u128(1), Kind::Company, "7371999999", hlc())
            .set("name", "PT Maju")
            .unwrap()
            .set("compliance", "unknown")
            .unwrap()
            .set("status", "active")
            .unwrap()
            .set("nib", "12345")
            .unwrap()
            .set("gps", "-5.14,119.41")
            .unwrap()
            .finish();
        assert_eq!(
            codes(&validate_op(&op, None, &NoReferences)),
            vec!["invalid_region", "invalid_digits"]
        );

        struct Refs;
        impl References for Refs {
            fn kind_of(&self, id: RecordId) -> Option<Kind> {
                (id == RecordId::from_u128(5)).then_some(Kind::Worker)
            }
        }
        let visit = |company: RecordId| {
            Edit::create(RecordId::from_u128(2), Kind::Visit, VILLAGE, hlc())
                .set("company", company.to_string())
                .unwrap()
                .set("status", "planned")
                .unwrap()
                .finish()
        };
        assert_eq!(
            codes(&validate_op(&visit(RecordId::from_u128(5)), None, &Refs)),
            vec!["wrong_reference"]
        );
        let r = validate_op(&visit(RecordId::from_u128(6)), None, &Refs);
        assert!(r.is_ok());
        assert_eq!(codes(&r), vec!["unknown_reference"]);
    }

    #[test]
    fn scope_prefixes() {
        assert!(check_scope_prefix("73").is_ok());
        assert!(check_scope_prefix("7371").is_ok());
        assert!(check_scope_prefix("73.71").is_err());
        assert!(check_scope_prefix("7").is_err());
    }
}
