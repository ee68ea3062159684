//! Realistic worker registrations, generated deterministically from a seed, or read from
//! JSON lines so other systems can be measured on exactly the same records.
//!
//! Record line format (one per line): `{"id": "<uuid>", "village": "7371011001", <worker
//! field>: <value>, …, "programmes": ["JKK", "JKM"]}` — the `worker` kind's own field names
//! (see docs/data-model.md), sets as arrays. Edit line format: `{"id": "<uuid>", "set":
//! {<field>: <value>, …}}`.

use std::io::{BufRead, Write};

use anyhow::{Context, Result, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value as Json, json};
use sidak_core::region::{Level, Regions};
use sidak_core::schema::Register;
use sidak_core::{Kind, RecordId, Value};
use sidak_store::Changes;

const MALE: &[&str] = &[
    "Andi",
    "Muhammad",
    "Ahmad",
    "Syamsul",
    "Baharuddin",
    "Rahmat",
    "Abdul",
    "Ilham",
    "Jufri",
    "Haris",
    "Amiruddin",
    "Sulaiman",
    "Muh. Arif",
    "Nurdin",
    "Hasanuddin",
    "Kaharuddin",
    "Basri",
    "Rusli",
];
const FEMALE: &[&str] = &[
    "Sitti",
    "Nurhayati",
    "Hasnah",
    "Besse",
    "Rosmini",
    "Nurul",
    "Andi Tenri",
    "Hasmiah",
    "Darmawati",
    "Rahmawati",
    "Fatmawati",
    "Irma",
    "Asriani",
    "Jumriah",
    "Marlina",
    "Suriani",
];
const FAMILY: &[&str] = &[
    "Daeng Ngai",
    "Daeng Tutu",
    "Dg. Sijaya",
    "Rauf",
    "Syam",
    "Latif",
    "Hamzah",
    "Saleh",
    "Mappiasse",
    "Pawelloi",
    "Tahir",
    "Ramli",
    "Nasir",
    "Daeng Bali",
    "Karaeng Lompo",
];
const OCCUPATIONS: &[(&str, u32)] = &[
    ("farmer", 20),
    ("fisher", 15),
    ("seaweed_farmer", 8),
    ("trader", 12),
    ("ojek_driver", 10),
    ("day_labourer", 8),
    ("petepete_driver", 4),
    ("imam", 3),
    ("marbot", 3),
    ("quran_teacher", 3),
    ("tailor", 3),
    ("construction_worker", 5),
    ("livestock_keeper", 4),
    ("posyandu_cadre", 2),
];

/// One worker registration: its id, village and field values.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerLine {
    /// Record id.
    pub id: RecordId,
    /// Village code (the record's region).
    pub village: String,
    /// Field values by name; sets as JSON arrays.
    pub fields: Map<String, Json>,
}

impl WorkerLine {
    /// The JSON line for this record.
    pub fn to_json(&self) -> Json {
        let mut m = self.fields.clone();
        m.insert("id".into(), json!(self.id.to_string()));
        m.insert("village".into(), json!(self.village));
        Json::Object(m)
    }

    /// Reads a JSON line.
    pub fn from_json(v: &Json) -> Result<WorkerLine> {
        let mut m = v
            .as_object()
            .context("a record line must be a JSON object")?
            .clone();
        let id = m
            .remove("id")
            .and_then(|x| x.as_str().map(str::to_owned))
            .context("record line without \"id\"")?;
        let village = m
            .remove("village")
            .and_then(|x| x.as_str().map(sidak_core::region::undot))
            .context("record line without \"village\"")?;
        Ok(WorkerLine {
            id: id.parse().with_context(|| format!("bad id {id:?}"))?,
            village,
            fields: m,
        })
    }

    /// The changes that create this record on a device.
    pub fn changes(&self) -> Result<Changes> {
        changes_for(Kind::Worker, &self.fields)
    }
}

/// Turns `{field: json value}` into store changes (arrays add to set fields).
pub fn changes_for(kind: Kind, fields: &Map<String, Json>) -> Result<Changes> {
    let mut c = Changes::new();
    for (name, v) in fields {
        let spec = kind
            .schema()
            .field(name)
            .with_context(|| format!("a {kind} has no field {name:?}"))?;
        if spec.register == Register::Set {
            for e in v
                .as_array()
                .with_context(|| format!("{name} must be an array"))?
            {
                c = c.add(
                    name.as_str(),
                    e.as_str()
                        .with_context(|| format!("{name} elements must be strings"))?,
                );
            }
        } else {
            let value =
                Value::from_json(v).with_context(|| format!("{name}: {v} is not a scalar"))?;
            c = c.set(name.as_str(), value);
        }
    }
    Ok(c)
}

/// Districts of South Sulawesi with their villages, for realistic codes.
fn districts() -> Vec<(String, Vec<String>)> {
    let regions = Regions::get();
    regions
        .children("73", Level::District)
        .into_iter()
        .map(|d| {
            let villages = regions
                .children(&d.code, Level::Village)
                .into_iter()
                .map(|v| v.code.clone())
                .collect();
            (d.code.clone(), villages)
        })
        .filter(|(_, v): &(String, Vec<String>)| !v.is_empty())
        .collect()
}

/// A deterministic generator of worker registrations.
pub struct Generator {
    rng: StdRng,
    districts: Vec<(String, Vec<String>)>,
    seq: u32,
}

impl Generator {
    /// A generator over all of South Sulawesi.
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(seed),
            districts: districts(),
            seq: 0,
        }
    }

    /// A generator restricted to villages whose code starts with `prefix`.
    pub fn within(seed: u64, prefix: &str) -> Generator {
        let mut g = Generator::new(seed);
        g.districts
            .retain(|(d, _)| d.starts_with(prefix) || prefix.starts_with(d.as_str()));
        for (_, v) in &mut g.districts {
            v.retain(|c| c.starts_with(prefix));
        }
        g.districts.retain(|(_, v)| !v.is_empty());
        g
    }

    fn pick<'a>(&mut self, list: &'a [&'a str]) -> &'a str {
        list[self.rng.gen_range(0..list.len())]
    }

    /// The next registration.
    pub fn worker(&mut self) -> WorkerLine {
        let (district, villages) = &self.districts[self.rng.gen_range(0..self.districts.len())];
        let (district, village) = (
            district.clone(),
            villages[self.rng.gen_range(0..villages.len())].clone(),
        );
        let female = self.rng.gen_bool(0.5);
        let given = if female {
            self.pick(FEMALE)
        } else {
            self.pick(MALE)
        };
        let name = format!("{given} {}", self.pick(FAMILY));
        let (y, m, d) = (
            self.rng.gen_range(1960..2006),
            self.rng.gen_range(1..=12u32),
            self.rng.gen_range(1..=28u32),
        );
        self.seq = self.seq % 9998 + 1;
        let nik = format!(
            "{district}{:02}{m:02}{:02}{:04}",
            d + if female { 40 } else { 0 },
            y % 100,
            self.seq
        );
        let total: u32 = OCCUPATIONS.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.gen_range(0..total);
        let occupation = OCCUPATIONS
            .iter()
            .find(|(_, w)| {
                if roll < *w {
                    true
                } else {
                    roll -= w;
                    false
                }
            })
            .map_or("farmer", |(o, _)| o);
        let mut programmes = vec!["JKK", "JKM"];
        if self.rng.gen_bool(0.3) {
            programmes.push("JHT");
        }
        let payer = match self.rng.gen_range(0..10) {
            0..=5 => "self",
            6..=8 => "local_government",
            _ => "sponsor",
        };
        let prefix = self.pick(&["0812", "0813", "0852", "0853", "0821", "0811"]);
        let phone = format!("{prefix}{:08}", self.rng.gen_range(0..100_000_000u32));
        let mut raw = [0u8; 10];
        self.rng.fill(&mut raw);
        let id = RecordId::new_v7(
            1_764_000_000_000 + u64::from(self.seq) * 1000 + self.rng.gen_range(0..1000),
            raw,
        );
        let mut fields = Map::new();
        fields.insert("nik".into(), json!(nik));
        fields.insert("full_name".into(), json!(name));
        fields.insert("birth_date".into(), json!(format!("{y}-{m:02}-{d:02}")));
        fields.insert("sex".into(), json!(if female { "female" } else { "male" }));
        fields.insert("occupation".into(), json!(occupation));
        fields.insert("phone".into(), json!(phone));
        fields.insert(
            "monthly_income".into(),
            json!(1_000_000 + 50_000 * self.rng.gen_range(0..50)),
        );
        fields.insert("programmes".into(), json!(programmes));
        fields.insert("payer".into(), json!(payer));
        if payer == "sponsor" {
            fields.insert("sponsor_name".into(), json!("CSR PT Semen Tonasa"));
        }
        fields.insert(
            "address".into(),
            json!(format!(
                "Dusun {}, RT 0{}/RW 0{}",
                self.pick(FAMILY),
                self.rng.gen_range(1..9),
                self.rng.gen_range(1..6)
            )),
        );
        fields.insert("consent".into(), json!(true));
        fields.insert("status".into(), json!("submitted"));
        WorkerLine {
            id,
            village,
            fields,
        }
    }
}

/// Reads JSON lines of records.
pub fn read_records(path: &std::path::Path) -> Result<Vec<WorkerLine>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Json = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        out.push(
            WorkerLine::from_json(&v).with_context(|| format!("{}:{}", path.display(), i + 1))?,
        );
    }
    Ok(out)
}

/// One edit: a record id and the fields it sets.
#[derive(Debug, Clone, PartialEq)]
pub struct EditLine {
    /// The record edited.
    pub id: RecordId,
    /// Field values set.
    pub set: Map<String, Json>,
}

/// Reads JSON lines of edits.
pub fn read_edits(path: &std::path::Path) -> Result<Vec<EditLine>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Json = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        let id = v["id"]
            .as_str()
            .with_context(|| format!("{}:{}: no \"id\"", path.display(), i + 1))?;
        let Some(set) = v["set"].as_object() else {
            bail!("{}:{}: no \"set\" object", path.display(), i + 1);
        };
        out.push(EditLine {
            id: id.parse()?,
            set: set.clone(),
        });
    }
    Ok(out)
}

/// Writes records as JSON lines.
pub fn write_records(path: &std::path::Path, records: &[WorkerLine]) -> Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in records {
        serde_json::to_writer(&mut w, &r.to_json())?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

/// Writes edits as JSON lines.
pub fn write_edits(path: &std::path::Path, edits: &[EditLine]) -> Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for e in edits {
        serde_json::to_writer(&mut w, &json!({"id": e.id.to_string(), "set": e.set}))?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sidak_core::validate::{NoReferences, validate_op};

    #[test]
    fn generated_records_are_valid_and_deterministic() {
        let mut a = Generator::new(7);
        let mut b = Generator::new(7);
        for _ in 0..300 {
            let w = a.worker();
            assert_eq!(w, b.worker());
            let mut e = sidak_core::Edit::create(
                w.id,
                Kind::Worker,
                w.village.clone(),
                sidak_core::Hlc::default(),
            );
            for (name, v) in &w.fields {
                e = match v {
                    Json::Array(items) => items
                        .iter()
                        .fold(e, |e, x| e.add(name, x.as_str().unwrap()).unwrap()),
                    other => e.set(name, Value::from_json(other).unwrap()).unwrap(),
                };
            }
            let report = validate_op(&e.finish(), None, &NoReferences);
            assert!(report.problems.is_empty(), "{:?}", report.problems);
            assert_eq!(WorkerLine::from_json(&w.to_json()).unwrap(), w);
        }
    }
}
