//! Kinds of record and their schemas, as data.
//!
//! Each field names its type, whether a record must have it, and the register
//! that merges concurrent writes to it. To add a field, add a line to a kind's
//! table; to add a kind, add a table and a [`Kind`] variant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kinds of record sidak keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A company (employer) that may be inspected.
    Company,
    /// An inspection visit (*sidak*) to a company.
    Visit,
    /// One finding of a visit; its own record so that two inspectors adding findings never conflict.
    Finding,
    /// A worker registration (mostly informal, *pekerja rentan*).
    Worker,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 4] = [Kind::Company, Kind::Visit, Kind::Finding, Kind::Worker];

    /// The kind's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Company => "company",
            Kind::Visit => "visit",
            Kind::Finding => "finding",
            Kind::Worker => "worker",
        }
    }

    /// The kind's schema.
    pub fn schema(self) -> &'static KindSchema {
        match self {
            Kind::Company => &COMPANY,
            Kind::Visit => &VISIT,
            Kind::Finding => &FINDING,
            Kind::Worker => &WORKER,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind name that sidak does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {0:?}: expected one of company, visit, finding, worker")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "company" => Ok(Kind::Company),
            "visit" => Ok(Kind::Visit),
            "finding" => Ok(Kind::Finding),
            "worker" => Ok(Kind::Worker),
            other => Err(UnknownKind(other.chars().take(40).collect())),
        }
    }
}

/// How concurrent writes to a field merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Register {
    /// Last writer wins by hybrid logical clock: for ordinary fields where the latest value is right.
    Lww,
    /// Multi-value: concurrent values are all kept and shown as a conflict until a write supersedes them.
    Mv,
    /// Add-wins observed-remove set: concurrent add and remove of one element keep it.
    Set,
}

/// What a set field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    /// One of a fixed list of codes.
    Enum(&'static [&'static str]),
    /// Free text up to a length.
    Text {
        /// Longest allowed text, in characters.
        max_len: usize,
    },
    /// A photo, signature or document, by content ([`crate::attachment::ContentRef`]).
    Attachment,
}

/// The type of a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text up to a length (in characters).
    Text {
        /// Longest allowed text, in characters.
        max_len: usize,
    },
    /// A whole number in a range (inclusive).
    Int {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// Yes or no.
    Bool,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An instant, RFC 3339 with offset (`2026-11-25T09:30:00+08:00`).
    DateTime,
    /// One of a fixed list of codes.
    Enum(&'static [&'static str]),
    /// A national identity number (NIK), 16 digits.
    Nik,
    /// An Indonesian mobile number (`08…` or `+628…`).
    Phone,
    /// A GPS position `lat,lon` in decimal degrees.
    Geo,
    /// A string of exactly this many digits (NIB: 13).
    Digits(usize),
    /// A tax number (NPWP): 16 digits, or the old 15-digit form.
    Npwp,
    /// The id of another record of this kind.
    Ref(Kind),
    /// A set of elements.
    Set(Element),
}

/// One field of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// The field's name on the wire.
    pub name: &'static str,
    /// What values it holds.
    pub ty: FieldType,
    /// Whether a record must have it from creation on.
    pub required: bool,
    /// How concurrent writes merge.
    pub register: Register,
    /// A short label for people (English / Indonesian).
    pub label: &'static str,
}

/// The schema of one kind.
#[derive(Debug)]
pub struct KindSchema {
    /// The kind.
    pub kind: Kind,
    /// What the record's region code means for this kind (all kinds use a village code).
    pub region_meaning: &'static str,
    /// The fields, in display order.
    pub fields: &'static [FieldSpec],
}

impl KindSchema {
    /// The field named `name`, if the kind has one.
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }
}

const fn f(
    name: &'static str,
    ty: FieldType,
    required: bool,
    register: Register,
    label: &'static str,
) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required,
        register,
        label,
    }
}

const fn set(name: &'static str, el: Element, required: bool, label: &'static str) -> FieldSpec {
    f(name, FieldType::Set(el), required, Register::Set, label)
}

use FieldType as T;
use Register::{Lww, Mv};

const TEXT: FieldType = T::Text { max_len: 200 };
const LONG_TEXT: FieldType = T::Text { max_len: 4000 };

/// Occupations of informal workers (docs/domain.md), as codes.
pub const OCCUPATIONS: &[&str] = &[
    "farmer",
    "farm_labourer",
    "fisher",
    "fish_farmer",
    "seaweed_farmer",
    "livestock_keeper",
    "trader",
    "street_vendor",
    "ojek_driver",
    "online_driver",
    "petepete_driver",
    "day_labourer",
    "construction_worker",
    "craftsperson",
    "tailor",
    "mechanic",
    "parking_attendant",
    "household_worker",
    "imam",
    "marbot",
    "muadhin",
    "quran_teacher",
    "preacher",
    "church_worker",
    "pastor",
    "religious_officiant",
    "posyandu_cadre",
    "rt_rw_head",
    "other",
];

/// BPJS Ketenagakerjaan programmes.
pub const PROGRAMMES: &[&str] = &["JKK", "JKM", "JHT", "JP", "JKP"];

/// Worker registration statuses.
pub const WORKER_STATUS: &[&str] = &[
    "draft",
    "submitted",
    "returned",
    "verified",
    "enrolled",
    "rejected",
    "duplicate",
    "archived",
];

/// Visit statuses.
pub const VISIT_STATUS: &[&str] = &[
    "planned",
    "in_progress",
    "completed",
    "submitted",
    "approved",
    "returned",
    "cancelled",
    "archived",
];

/// Finding statuses.
pub const FINDING_STATUS: &[&str] = &[
    "open",
    "complied",
    "not_complied",
    "escalated",
    "closed",
    "archived",
];

/// Company compliance categories.
pub const COMPLIANCE: &[&str] = &[
    "unknown",
    "registered",
    "not_registered",
    "partly_registered",
    "wages_under_reported",
    "not_all_programmes",
    "in_arrears",
];

/// Types of finding.
pub const FINDING_TYPES: &[&str] = &[
    "unregistered_company",
    "workers_not_registered",
    "wages_under_reported",
    "not_all_programmes",
    "arrears",
    "no_workforce_report",
    "wage_below_minimum",
    "other",
];

static COMPANY_FIELDS: [FieldSpec; 17] = [
    f("name", TEXT, true, Mv, "Company name / Nama perusahaan"),
    f(
        "legal_form",
        T::Enum(&[
            "pt",
            "cv",
            "firma",
            "koperasi",
            "yayasan",
            "ud",
            "perorangan",
            "bumn",
            "bumd",
            "other",
        ]),
        false,
        Lww,
        "Legal form / Badan usaha",
    ),
    f("nib", T::Digits(13), false, Mv, "Business number / NIB"),
    f("npwp", T::Npwp, false, Lww, "Tax number / NPWP"),
    set(
        "npp",
        Element::Text { max_len: 40 },
        false,
        "BPJS employer numbers / NPP",
    ),
    f("address", LONG_TEXT, false, Lww, "Address / Alamat"),
    f(
        "sector",
        T::Enum(&[
            "agriculture",
            "fishery",
            "mining",
            "manufacturing",
            "construction",
            "trade",
            "hospitality",
            "transport",
            "services",
            "other",
        ]),
        false,
        Lww,
        "Sector / Sektor",
    ),
    f(
        "scale",
        T::Enum(&["micro", "small", "medium", "large"]),
        false,
        Lww,
        "Scale / Skala",
    ),
    f(
        "workers_declared",
        T::Int {
            min: 0,
            max: 1_000_000,
        },
        false,
        Mv,
        "Workers declared / Jumlah TK dilaporkan",
    ),
    f(
        "contact_name",
        TEXT,
        false,
        Lww,
        "Contact person / Narahubung",
    ),
    f(
        "contact_phone",
        T::Phone,
        false,
        Lww,
        "Contact phone / Telepon",
    ),
    f(
        "compliance",
        T::Enum(COMPLIANCE),
        true,
        Lww,
        "Compliance / Kepatuhan",
    ),
    f(
        "status",
        T::Enum(&["active", "closed", "duplicate", "archived"]),
        true,
        Lww,
        "Status",
    ),
    f(
        "duplicate_of",
        T::Ref(Kind::Company),
        false,
        Lww,
        "Duplicate of / Duplikat dari",
    ),
    f(
        "review_note",
        LONG_TEXT,
        false,
        Lww,
        "Review note / Catatan",
    ),
    f("gps", T::Geo, false, Lww, "Position / Lokasi"),
    set(
        "attachments",
        Element::Attachment,
        false,
        "Photos and documents / Foto dan dokumen",
    ),
];

static VISIT_FIELDS: [FieldSpec; 18] = [
    f(
        "company",
        T::Ref(Kind::Company),
        true,
        Lww,
        "Company / Perusahaan",
    ),
    set(
        "team",
        Element::Text { max_len: 120 },
        false,
        "Team members / Tim",
    ),
    f("scheduled_date", T::Date, false, Lww, "Scheduled / Jadwal"),
    f("started_at", T::DateTime, false, Lww, "Started / Mulai"),
    f("ended_at", T::DateTime, false, Lww, "Ended / Selesai"),
    f("gps", T::Geo, false, Lww, "Position / Lokasi"),
    f(
        "representative",
        TEXT,
        false,
        Lww,
        "Representative met / Perwakilan",
    ),
    f("status", T::Enum(VISIT_STATUS), true, Mv, "Status"),
    f(
        "workers_observed",
        T::Int {
            min: 0,
            max: 1_000_000,
        },
        false,
        Mv,
        "Workers observed / TK ditemukan",
    ),
    f(
        "workers_registered",
        T::Int {
            min: 0,
            max: 1_000_000,
        },
        false,
        Mv,
        "Workers registered with BPJS / TK terdaftar",
    ),
    set(
        "documents_checked",
        Element::Enum(&[
            "wlkp",
            "payroll",
            "bpjs_certificate",
            "employment_contracts",
            "company_regulation",
            "attendance",
            "other",
        ]),
        false,
        "Documents checked / Dokumen diperiksa",
    ),
    set(
        "photos",
        Element::Text { max_len: 200 },
        false,
        "Photos / Foto",
    ),
    f("summary", LONG_TEXT, false, Lww, "Summary / Ringkasan"),
    f(
        "follow_up_deadline",
        T::Date,
        false,
        Lww,
        "Follow-up deadline / Batas waktu",
    ),
    f(
        "nota_stage",
        T::Enum(&["none", "nota_1", "nota_2", "enforcement", "legal"]),
        false,
        Lww,
        "Inspection note stage / Tahap nota",
    ),
    f(
        "follows",
        T::Ref(Kind::Visit),
        false,
        Lww,
        "Follow-up of / Tindak lanjut dari",
    ),
    f(
        "review_note",
        LONG_TEXT,
        false,
        Lww,
        "Review note / Catatan",
    ),
    set(
        "attachments",
        Element::Attachment,
        false,
        "Photos and documents / Foto dan dokumen",
    ),
];

static FINDING_FIELDS: [FieldSpec; 11] = [
    f("visit", T::Ref(Kind::Visit), true, Lww, "Visit / Kunjungan"),
    f(
        "type",
        T::Enum(FINDING_TYPES),
        true,
        Lww,
        "Type / Jenis temuan",
    ),
    f(
        "affected_workers",
        T::Int {
            min: 0,
            max: 1_000_000,
        },
        false,
        Lww,
        "Affected workers / TK terdampak",
    ),
    f("description", LONG_TEXT, false, Lww, "Description / Uraian"),
    f("legal_basis", TEXT, false, Lww, "Legal basis / Dasar hukum"),
    f(
        "severity",
        T::Enum(&["low", "medium", "high"]),
        false,
        Lww,
        "Severity / Tingkat",
    ),
    f(
        "required_action",
        LONG_TEXT,
        false,
        Lww,
        "Required action / Tindakan",
    ),
    f("deadline", T::Date, false, Lww, "Deadline / Batas waktu"),
    f("status", T::Enum(FINDING_STATUS), true, Mv, "Status"),
    f(
        "carried_from",
        T::Ref(Kind::Finding),
        false,
        Lww,
        "Carried from / Lanjutan dari",
    ),
    set(
        "attachments",
        Element::Attachment,
        false,
        "Photos and documents / Foto dan dokumen",
    ),
];

static WORKER_FIELDS: [FieldSpec; 18] = [
    f("nik", T::Nik, true, Mv, "NIK"),
    f("full_name", TEXT, true, Mv, "Full name / Nama lengkap"),
    f(
        "birth_date",
        T::Date,
        true,
        Mv,
        "Birth date / Tanggal lahir",
    ),
    f(
        "sex",
        T::Enum(&["male", "female"]),
        true,
        Mv,
        "Sex / Jenis kelamin",
    ),
    f(
        "occupation",
        T::Enum(OCCUPATIONS),
        true,
        Lww,
        "Occupation / Pekerjaan",
    ),
    f(
        "occupation_other",
        TEXT,
        false,
        Lww,
        "Occupation (other) / Pekerjaan lain",
    ),
    f("phone", T::Phone, false, Lww, "Phone / Telepon"),
    f("address", LONG_TEXT, false, Lww, "Address / Alamat"),
    f(
        "monthly_income",
        T::Int {
            min: 1_000_000,
            max: 1_000_000_000,
        },
        true,
        Lww,
        "Declared monthly income / Penghasilan",
    ),
    set(
        "programmes",
        Element::Enum(PROGRAMMES),
        true,
        "Programmes / Program",
    ),
    f(
        "payer",
        T::Enum(&["self", "local_government", "sponsor"]),
        true,
        Lww,
        "Payer / Pembayar iuran",
    ),
    f(
        "sponsor_name",
        TEXT,
        false,
        Lww,
        "Sponsor / Penyandang dana",
    ),
    set(
        "heirs",
        Element::Text { max_len: 120 },
        false,
        "Heirs / Ahli waris",
    ),
    f("consent", T::Bool, true, Lww, "Consent given / Persetujuan"),
    f("status", T::Enum(WORKER_STATUS), true, Lww, "Status"),
    f(
        "duplicate_of",
        T::Ref(Kind::Worker),
        false,
        Lww,
        "Duplicate of / Duplikat dari",
    ),
    f(
        "review_note",
        LONG_TEXT,
        false,
        Lww,
        "Review note / Catatan",
    ),
    set(
        "attachments",
        Element::Attachment,
        false,
        "Photos and documents / Foto dan dokumen",
    ),
];

static COMPANY: KindSchema = KindSchema {
    kind: Kind::Company,
    region_meaning: "village (desa/kelurahan) where the company's premises are",
    fields: &COMPANY_FIELDS,
};

static VISIT: KindSchema = KindSchema {
    kind: Kind::Visit,
    region_meaning: "village of the visited company",
    fields: &VISIT_FIELDS,
};

static FINDING: KindSchema = KindSchema {
    kind: Kind::Finding,
    region_meaning: "village of the visit's company",
    fields: &FINDING_FIELDS,
};

static WORKER: KindSchema = KindSchema {
    kind: Kind::Worker,
    region_meaning: "village (desa/kelurahan) where the worker lives",
    fields: &WORKER_FIELDS,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_unique_and_sets_use_set_registers() {
        for kind in Kind::ALL {
            let s = kind.schema();
            assert_eq!(s.kind, kind);
            for (i, a) in s.fields.iter().enumerate() {
                assert!(
                    s.fields[i + 1..].iter().all(|b| b.name != a.name),
                    "{kind}.{}",
                    a.name
                );
                assert_eq!(
                    matches!(a.ty, FieldType::Set(_)),
                    a.register == Register::Set,
                    "{kind}.{}",
                    a.name
                );
            }
            assert!(
                s.field("status").is_some(),
                "{kind} has a status (archiving is a status write)"
            );
        }
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        assert!("person".parse::<Kind>().is_err());
    }

    #[test]
    fn identity_and_count_fields_keep_conflicts() {
        for (kind, field) in [
            (Kind::Worker, "nik"),
            (Kind::Worker, "full_name"),
            (Kind::Worker, "birth_date"),
            (Kind::Visit, "workers_observed"),
            (Kind::Visit, "status"),
            (Kind::Finding, "status"),
        ] {
            assert_eq!(
                kind.schema().field(field).map(|f| f.register),
                Some(Register::Mv)
            );
        }
    }
}
