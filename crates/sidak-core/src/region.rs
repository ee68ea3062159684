//! Kemendagri region codes, from the reference data shipped in `data/`.
//!
//! South Sulawesi (73) is known down to its villages; the rest of Indonesia down
//! to districts. Codes are kept without dots: province `73`, regency `7371`,
//! district `737101`, village `7371011001`.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// Administrative level of a region code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Province (2 digits).
    Province,
    /// Regency (*kabupaten*, 01-69) or city (*kota*, 71-99) (4 digits).
    Regency,
    /// District (*kecamatan*) (6 digits).
    District,
    /// Village (*desa* or *kelurahan*) (10 digits).
    Village,
}

impl Level {
    /// The level of a code by its length in digits.
    pub fn of_len(len: usize) -> Option<Level> {
        match len {
            2 => Some(Level::Province),
            4 => Some(Level::Regency),
            6 => Some(Level::District),
            10 => Some(Level::Village),
            _ => None,
        }
    }
}

/// One region of the reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Code without dots.
    pub code: String,
    /// Level.
    pub level: Level,
    /// Official name.
    pub name: String,
    /// Parent's code without dots (empty for a province).
    pub parent: String,
}

/// The region reference: every known code.
#[derive(Debug)]
pub struct Regions {
    by_code: HashMap<String, Region>,
    /// Districts whose villages the reference lists (so an unlisted village there is unknown).
    districts_with_villages: HashSet<String>,
}

const SULSEL: &str = include_str!("../data/regions-73-sulawesi-selatan.csv");
const DISTRICTS: &str = include_str!("../data/regions-id-districts.csv");

/// Removes the dots of a dotted code (`73.71.01.1001` → `7371011001`).
pub fn undot(code: &str) -> String {
    code.chars().filter(|c| *c != '.').collect()
}

impl Regions {
    /// The shipped reference, parsed once.
    pub fn get() -> &'static Regions {
        static REGIONS: OnceLock<Regions> = OnceLock::new();
        REGIONS.get_or_init(|| Regions::parse(&[SULSEL, DISTRICTS]))
    }

    fn parse(files: &[&str]) -> Regions {
        let mut by_code = HashMap::new();
        for file in files {
            for line in file.lines().skip(1) {
                // code,parent_code,level,name — names may contain commas, so split three times only.
                let mut parts = line.splitn(4, ',');
                let (Some(code), Some(parent), Some(level), Some(name)) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let level = match level {
                    "province" => Level::Province,
                    "regency" => Level::Regency,
                    "district" => Level::District,
                    "village" => Level::Village,
                    _ => continue,
                };
                let code = undot(code);
                by_code.insert(
                    code.clone(),
                    Region {
                        code,
                        level,
                        name: name.trim_matches('"').to_owned(),
                        parent: undot(parent),
                    },
                );
            }
        }
        let districts_with_villages = by_code
            .values()
            .filter(|r| r.level == Level::Village)
            .map(|r| r.parent.clone())
            .collect();
        Regions {
            by_code,
            districts_with_villages,
        }
    }

    /// The region with this code (dotted or not), if known.
    pub fn lookup(&self, code: &str) -> Option<&Region> {
        if code.contains('.') {
            self.by_code.get(&undot(code))
        } else {
            self.by_code.get(code)
        }
    }

    /// Every known region under `prefix` at `level`, sorted by code.
    pub fn children(&self, prefix: &str, level: Level) -> Vec<&Region> {
        let mut v: Vec<&Region> = self
            .by_code
            .values()
            .filter(|r| r.level == level && r.code.starts_with(prefix))
            .collect();
        v.sort_by(|a, b| a.code.cmp(&b.code));
        v
    }

    /// Whether `code` is a village a record may belong to: a known village of South
    /// Sulawesi, or elsewhere a known district followed by a 4-digit village number
    /// starting with 1 (kelurahan) or 2 (desa), as the reference stops at districts there.
    pub fn is_record_village(&self, code: &str) -> bool {
        if code.len() != 10 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        if self.lookup(code).is_some_and(|r| r.level == Level::Village) {
            return true;
        }
        let district_known = self
            .lookup(&code[..6])
            .is_some_and(|r| r.level == Level::District);
        let villages_known = self.districts_with_villages.contains(&code[..6]);
        district_known
            && !villages_known
            && matches!(code.as_bytes()[6], b'1' | b'2')
            && &code[7..] != "000"
    }

    /// Whether `code` is a known region at any level, valid as a scope prefix.
    pub fn is_known(&self, code: &str) -> bool {
        self.lookup(code).is_some()
    }

    /// The name of the regency containing `code`, if known.
    pub fn regency_name(&self, code: &str) -> Option<&str> {
        code.get(..4)
            .and_then(|c| self.lookup(c))
            .map(|r| r.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_counts_match_the_data_readme() {
        let r = Regions::get();
        assert_eq!(r.children("73", Level::Regency).len(), 24);
        assert_eq!(r.children("73", Level::District).len(), 313);
        assert_eq!(r.children("73", Level::Village).len(), 3059);
        assert_eq!(r.children("", Level::Province).len(), 38);
    }

    #[test]
    fn lookups_with_and_without_dots() {
        let r = Regions::get();
        assert_eq!(
            r.lookup("73.71").map(|x| x.name.as_str()),
            Some("Kota Makassar")
        );
        assert_eq!(r.lookup("7371").map(|x| x.level), Some(Level::Regency));
        assert!(r.lookup("7399").is_none());
    }

    #[test]
    fn record_villages() {
        let r = Regions::get();
        let village = &r.children("7371", Level::Village)[0].code.clone();
        assert!(r.is_record_village(village));
        assert!(
            !r.is_record_village("7371019999"),
            "unknown village in South Sulawesi"
        );
        assert!(
            !r.is_record_village("737101"),
            "a district is not a village"
        );
        assert!(
            r.is_record_village("3171011001"),
            "Jakarta: known district, plausible village"
        );
        assert!(
            !r.is_record_village("3171013001"),
            "village numbers start with 1 or 2"
        );
        assert!(!r.is_record_village("99710110x1"));
    }
}
