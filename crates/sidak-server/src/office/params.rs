//! Query strings, path ids and dates of the office API, read with our error body.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use sidak_core::RecordId;

use crate::error::ApiError;
use crate::state::AppState;

/// Parameters that may be given empty: the free-text filters, where empty means "no filter"
/// (`q=`: a search box left blank), and the page cursor, where empty means the first page
/// (as `""` starts a pull). Every other parameter (an enum such as `kind` or `level`, a code
/// such as `region`, a date, a number, a boolean) given empty is refused: `kind=` was once
/// read as "every kind".
const MAY_BE_EMPTY: &[&str] = &["status", "officer", "q", "cursor"];

/// A query string parsed into `T` (unknown parameters refused), errors as `invalid_message`.
///
/// An empty value is refused unless the parameter is one of [`MAY_BE_EMPTY`].
///
/// A parameter holding a control character (NUL, a line break, DEL, ...) is refused, naming
/// the parameter: no office value contains one, and a NUL would end the text early in
/// SQLite's `LIKE`, so `q=%00` would have matched every record.
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        if let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
            for (name, value) in &pairs {
                if value.is_empty() && !MAY_BE_EMPTY.contains(&name.as_str()) {
                    return Err(ApiError::invalid_message(format!(
                        "parameter {:?} must not be empty: leave it out instead",
                        clip(&name.replace(char::is_control, "?"))
                    )));
                }
                if name.chars().chain(value.chars()).any(char::is_control) {
                    return Err(ApiError::invalid_message(format!(
                        "parameter {:?} must not contain control characters (such as NUL or a line break)",
                        clip(&name.replace(char::is_control, "?"))
                    )));
                }
            }
        }
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(v)| Params(v))
            .map_err(|e| ApiError::invalid_message(format!("bad query string: {}", e.body_text())))
    }
}

/// A record id from the path.
pub fn record_id(s: &str) -> Result<RecordId, ApiError> {
    s.parse().map_err(|_| {
        ApiError::not_found(format!("record {:?} not found (not a record id)", clip(s)))
    })
}

/// At most 40 characters of user input, for messages.
pub fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The office's time zone: WITA (UTC+8), the time of South Sulawesi. Dates typed in the
/// office ("from 2026-11-01") and "today" for overdue findings are days of this zone.
pub const OFFICE_UTC_OFFSET_MS: i64 = 8 * 60 * 60 * 1000;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Reads `YYYY-MM-DD` as the office-time midnight starting that day, in ms since the epoch.
pub fn day_start_ms(s: &str, name: &str) -> Result<u64, ApiError> {
    let bad = || {
        ApiError::invalid_message(format!(
            "{name} must be a date YYYY-MM-DD, got {:?}",
            clip(s)
        ))
    };
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let y: i64 = s[..4].parse().map_err(|_| bad())?;
    let m: u32 = s[5..7].parse().map_err(|_| bad())?;
    let d: u32 = s[8..].parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1970 {
        return Err(bad());
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return Err(bad());
    }
    Ok((days * DAY_MS - OFFICE_UTC_OFFSET_MS).max(0) as u64)
}

/// The office-time date of an instant, `YYYY-MM-DD`.
pub fn office_date(ms: u64) -> String {
    let (y, m, d) = civil_from_days((ms as i64 + OFFICE_UTC_OFFSET_MS).div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// An instant as RFC 3339 in UTC, to the second (`2026-11-25T06:05:00Z`).
pub fn rfc3339(ms: u64) -> String {
    let ms = ms as i64;
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let s = ms.rem_euclid(DAY_MS) / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The filter range `[from, to]` of two optional dates, `to` inclusive. A parameter given
/// empty (`to=`) is refused like any other string that is not a date: leave it out instead.
pub fn date_range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<u64>, Option<u64>), ApiError> {
    let from = from.map(|s| day_start_ms(s, "from")).transpose()?;
    let to = to
        .map(|s| day_start_ms(s, "to").map(|t| t + DAY_MS as u64))
        .transpose()?;
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_in_office_time() {
        let t = day_start_ms("2026-11-25", "from").expect("date");
        assert_eq!(office_date(t), "2026-11-25");
        assert_eq!(office_date(t - 1), "2026-11-24");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(t), "2026-11-24T16:00:00Z");
        assert!(day_start_ms("2026-02-30", "from").is_err());
        assert!(day_start_ms("26-02-03", "from").is_err());
        assert!(
            date_range(None, Some("")).is_err(),
            "an empty date is not a date"
        );
        assert_eq!(date_range(None, None).expect("no dates"), (None, None));
    }
}
