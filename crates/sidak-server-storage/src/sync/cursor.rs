//! Pull cursors: what a device has received, encoded in an opaque string.
//!
//! A cursor says "this device has every op numbered up to `seq` in `scope`
//! (except its own)". A first pull sends the whole history, own ops included (a
//! store starting over after a restore may have purged some of its own records),
//! as a backfill at 0 with nothing excluded (`v1:0:<scope>::<pos>`). While a scope grows, it also carries a backfill: the added
//! area (the scope minus `exclude`, the part it already had) has been sent up
//! to `pos` only, and is sent whole (the device's own ops included, since it may
//! have purged them) before the stream after `seq` resumes.
//!
//! Text form: `v1:<seq>:<scope>` or `v1:<seq>:<scope>:<exclude>:<pos>`, prefix
//! lists joined by commas. Devices must not parse it; the server may change it.
//! A forged cursor cannot widen what a device sees: every scan is limited to the
//! officer's scope as stored on the server.

use super::scope;
use super::{Scan, ScanResult};
use sidak_core::DeviceId;

/// Where a device stands in the op log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Every op numbered at most this, in `scope`, has been sent (backfill aside).
    pub seq: u64,
    /// The scope the cursor covers.
    pub scope: Vec<String>,
    /// A scope growth being sent, if any.
    pub backfill: Option<Backfill>,
}

/// The history of an added area, sent before the stream resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backfill {
    /// Prefixes the device already had whole up to `seq`; the rest of `scope` is backfilled.
    pub exclude: Vec<String>,
    /// Backfilled up to this sequence number.
    pub pos: u64,
}

/// Why a cursor string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid cursor {0:?}: send the next_cursor of the last page applied, or \"\" to start over"
)]
pub struct CursorError(pub String);

fn join(v: &[String]) -> String {
    v.join(",")
}

fn split(s: &str) -> Option<Vec<String>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split(',')
        .map(|p| (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.to_owned()))
        .collect()
}

impl Cursor {
    /// Whether this is a first pull still running: the whole history, own ops included.
    pub fn is_first(&self) -> bool {
        self.seq == 0 && self.backfill.as_ref().is_some_and(|b| b.exclude.is_empty())
    }

    /// The cursor's text.
    pub fn encode(&self) -> String {
        match &self.backfill {
            None => format!("v1:{}:{}", self.seq, join(&self.scope)),
            Some(b) => format!(
                "v1:{}:{}:{}:{}",
                self.seq,
                join(&self.scope),
                join(&b.exclude),
                b.pos
            ),
        }
    }

    /// Reads a cursor; `None` for the empty cursor of a first pull.
    pub fn decode(s: &str) -> Result<Option<Cursor>, CursorError> {
        if s.is_empty() {
            return Ok(None);
        }
        let err = || CursorError(s.chars().take(80).collect());
        let parts: Vec<&str> = s.split(':').collect();
        let (seq, scope, backfill) = match parts.as_slice() {
            ["v1", seq, scope] => (seq, scope, None),
            ["v1", seq, scope, exclude, pos] => {
                let b = Backfill {
                    exclude: split(exclude).ok_or_else(err)?,
                    pos: pos.parse().map_err(|_| err())?,
                };
                (seq, scope, Some(b))
            }
            _ => return Err(err()),
        };
        let seq: u64 = seq.parse().map_err(|_| err())?;
        // A first pull runs as a backfill at 0 with nothing excluded (see [`plan`]).
        if backfill
            .as_ref()
            .is_some_and(|b| b.pos > seq && !(seq == 0 && b.exclude.is_empty()))
        {
            return Err(err());
        }
        Ok(Some(Cursor {
            seq,
            scope: split(scope).ok_or_else(err)?,
            backfill,
        }))
    }
}

/// A cursor as the server hands it out: `<mac>.<fingerprint>.<cursor>`, where the
/// fingerprint names the op numbered `seq` (so a pull can tell that the log still holds it:
/// a server restored from an older copy does not) and the MAC, a keyed BLAKE3 hash under
/// the database's [`crate::storage::Storage::cursor_key`], shows that this server made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The cursor.
    pub cursor: Cursor,
    /// The fingerprint of the op numbered `cursor.seq` (`"0"` when there is none), or
    /// `None` for a cursor of the unsigned form older builds made.
    pub fingerprint: Option<String>,
}

/// The fingerprint of the op with timestamp `hlc` (or of no op): 16 hex digits of its hash.
pub fn fingerprint(hlc: Option<&sidak_core::Hlc>) -> String {
    match hlc {
        None => "0".to_owned(),
        Some(h) => blake3::hash(h.to_string().as_bytes()).to_hex()[..16].to_owned(),
    }
}

fn mac(key: &[u8; 32], text: &str) -> String {
    blake3::keyed_hash(key, text.as_bytes()).to_hex()[..24].to_owned()
}

impl Signed {
    /// The cursor's text, signed with `key`.
    pub fn encode(&self, key: &[u8; 32]) -> String {
        let fp = self.fingerprint.as_deref().unwrap_or("0");
        let rest = format!("{fp}.{}", self.cursor.encode());
        format!("{}.{rest}", mac(key, &rest))
    }

    /// Reads a cursor this server made (`None` for `""`). An unsigned cursor of the older
    /// form is still read (devices in the field hold them) with no fingerprint; anything
    /// else, or a signature that does not match, is refused.
    pub fn decode(s: &str, key: &[u8; 32]) -> Result<Option<Signed>, CursorError> {
        if s.is_empty() || s.starts_with("v1:") {
            let cursor = Cursor::decode(s)?;
            // Unsigned: at least never echo back (in `purge`) what is not a region code.
            let region = |p: &String| matches!(p.len(), 2 | 4 | 6 | 10);
            if let Some(c) = &cursor {
                let excluded = c.backfill.iter().flat_map(|b| b.exclude.iter());
                if !c.scope.iter().chain(excluded).all(region) {
                    return Err(CursorError(s.chars().take(80).collect()));
                }
            }
            return Ok(cursor.map(|cursor| Signed {
                cursor,
                fingerprint: None,
            }));
        }
        let err = || CursorError(s.chars().take(80).collect());
        let (m, rest) = s.split_once('.').ok_or_else(err)?;
        let (fp, body) = rest.split_once('.').ok_or_else(err)?;
        let expected = mac(key, rest);
        // Constant time is not needed for secrecy here (the MAC guards integrity, and a
        // device learns nothing it could not already send), but costs nothing.
        if !constant_eq(m.as_bytes(), expected.as_bytes()) || !body.starts_with("v1:") {
            return Err(err());
        }
        Ok(Cursor::decode(body)?.map(|cursor| Signed {
            cursor,
            fingerprint: Some(fp.to_owned()),
        }))
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl ScanResult {
    /// The timestamp of the op numbered `seq`, where this scan knows it: an op it returned,
    /// the watermark's, or the fingerprinted one.
    pub fn hlc_at(&self, seq: u64, fingerprinted: Option<u64>) -> Option<Option<&sidak_core::Hlc>> {
        if let Some((_, op)) = self.ops.iter().find(|(s, _)| *s == seq) {
            return Some(Some(&op.hlc));
        }
        if seq == self.high {
            return Some(self.high_hlc.as_ref());
        }
        if Some(seq) == fingerprinted {
            return Some(self.at_hlc.as_ref());
        }
        (seq == 0).then_some(None)
    }
}

/// What the next page must do, given the device's cursor and its scope now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The cursor to read from (a backfill starts when the scope grew).
    pub cursor: Cursor,
    /// Prefixes that left the scope: the device purges records under them that are
    /// not under a prefix of its scope now (keeping its unsynced edits).
    pub purge: Vec<String>,
}

/// Compares the cursor's scope with the officer's scope now and decides what the page holds.
pub fn plan(cursor: Option<Cursor>, now: &[String]) -> Plan {
    let Some(c) = cursor else {
        // First pull: the whole history of the scope, the device's own ops included (a store
        // starting over after a restore may have purged some of its own records meanwhile),
        // as a backfill at 0 with nothing excluded, then the stream after where it ended.
        return Plan {
            cursor: Cursor {
                seq: 0,
                scope: now.to_vec(),
                backfill: Some(Backfill {
                    exclude: Vec::new(),
                    pos: 0,
                }),
            },
            purge: Vec::new(),
        };
    };
    if scope::same(&c.scope, now) {
        return Plan {
            cursor: c,
            purge: Vec::new(),
        };
    }
    let purge: Vec<String> = c
        .scope
        .iter()
        .filter(|p| !scope::covers(now, p))
        .cloned()
        .collect();
    // The area the device holds whole up to `seq`; a backfill still running is redone.
    let had: Vec<String> = match &c.backfill {
        Some(b) => b.exclude.clone(),
        None => c.scope.clone(),
    };
    let grew = now.iter().any(|p| !scope::covers(&had, p));
    let backfill = grew.then_some(Backfill {
        exclude: had,
        pos: 0,
    });
    Plan {
        cursor: Cursor {
            seq: c.seq,
            scope: now.to_vec(),
            backfill,
        },
        purge,
    }
}

impl Cursor {
    /// The scan that reads the next page from this cursor.
    pub fn scan(&self, device: DeviceId, limit: usize, max_bytes: usize) -> Scan {
        if self.is_first() {
            return Scan {
                after: self.backfill.as_ref().map_or(0, |b| b.pos),
                upto: None,
                include: self.scope.clone(),
                exclude: Vec::new(),
                skip_device: None,
                limit,
                max_bytes,
                fingerprint_at: Some(self.seq),
            };
        }
        match &self.backfill {
            Some(b) => Scan {
                after: b.pos,
                upto: Some(self.seq),
                include: self.scope.clone(),
                exclude: b.exclude.clone(),
                skip_device: None,
                limit,
                max_bytes,
                fingerprint_at: Some(self.seq),
            },
            None => Scan {
                after: self.seq,
                upto: None,
                include: self.scope.clone(),
                exclude: Vec::new(),
                skip_device: Some(device),
                limit,
                max_bytes,
                fingerprint_at: Some(self.seq),
            },
        }
    }

    /// The cursor after sending the page `res` read by [`Cursor::scan`], and whether more waits.
    pub fn advance(&self, res: &ScanResult) -> (Cursor, bool) {
        let last = res.ops.last().map(|(s, _)| *s);
        if self.is_first() {
            let pos = self.backfill.as_ref().map_or(0, |b| b.pos);
            return if res.more {
                let mut next = self.clone();
                next.backfill = Some(Backfill {
                    exclude: Vec::new(),
                    pos: last.unwrap_or(pos),
                });
                (next, true)
            } else {
                (
                    Cursor {
                        seq: res.high.max(last.unwrap_or(pos)),
                        scope: self.scope.clone(),
                        backfill: None,
                    },
                    false,
                )
            };
        }
        match &self.backfill {
            Some(b) => {
                if res.more {
                    let mut next = self.clone();
                    next.backfill = Some(Backfill {
                        exclude: b.exclude.clone(),
                        pos: last.unwrap_or(b.pos),
                    });
                    (next, true)
                } else {
                    // Backfill done; the stream after `seq` follows in the next page.
                    (
                        Cursor {
                            seq: self.seq,
                            scope: self.scope.clone(),
                            backfill: None,
                        },
                        true,
                    )
                }
            }
            None => {
                let seq = if res.more {
                    last.unwrap_or(self.seq)
                } else {
                    res.high.max(self.seq)
                };
                (
                    Cursor {
                        seq,
                        scope: self.scope.clone(),
                        backfill: None,
                    },
                    res.more,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn text_round_trip() {
        for c in [
            Cursor {
                seq: 0,
                scope: vec![],
                backfill: None,
            },
            Cursor {
                seq: 42,
                scope: v(&["7371", "7372"]),
                backfill: None,
            },
            Cursor {
                seq: 42,
                scope: v(&["73"]),
                backfill: Some(Backfill {
                    exclude: v(&["7371"]),
                    pos: 7,
                }),
            },
        ] {
            assert_eq!(Cursor::decode(&c.encode()), Ok(Some(c.clone())));
        }
        assert_eq!(Cursor::decode(""), Ok(None));
        for bad in [
            "x",
            "v1",
            "v2:1:73",
            "v1:-1:73",
            "v1:1:7a",
            "v1:1:73:71",
            "v1:5:73::9",
            "v1:1:73,,74",
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unchanged_scope_keeps_the_cursor() {
        let c = Cursor {
            seq: 9,
            scope: v(&["7371"]),
            backfill: None,
        };
        assert_eq!(
            plan(Some(c.clone()), &v(&["7371"])),
            Plan {
                cursor: c,
                purge: vec![]
            }
        );
    }

    #[test]
    fn growth_backfills_and_shrink_purges() {
        let c = Cursor {
            seq: 9,
            scope: v(&["7371"]),
            backfill: None,
        };
        let p = plan(Some(c), &v(&["7371", "7372"]));
        assert_eq!(p.purge, Vec::<String>::new());
        assert_eq!(
            p.cursor.backfill,
            Some(Backfill {
                exclude: v(&["7371"]),
                pos: 0
            })
        );

        let c = Cursor {
            seq: 9,
            scope: v(&["7371", "7372"]),
            backfill: None,
        };
        let p = plan(Some(c), &v(&["7372"]));
        assert_eq!(p.purge, v(&["7371"]));
        assert_eq!(p.cursor.backfill, None);

        // Narrowing a province to a regency purges the province (the device keeps what is still in scope).
        let c = Cursor {
            seq: 9,
            scope: v(&["73"]),
            backfill: None,
        };
        let p = plan(Some(c), &v(&["7371"]));
        assert_eq!((p.purge, p.cursor.backfill), (v(&["73"]), None));
    }

    const OP: &str = r#"{"id":"01a23447-4f11-7552-9060-d6f4b77e1f53","kind":"worker","region":"7371011001","hlc":"1.0@00000000-0000-0000-0000-000000000002","changes":[{"op":"set","field":"phone","value":"081200000001"}]}"#;

    #[test]
    fn a_first_pull_sends_the_whole_history_own_ops_included_then_streams() {
        let device = DeviceId::from_u128(1);
        let p = plan(None, &v(&["7371"]));
        assert!(p.cursor.is_first());
        let scan = p.cursor.scan(device, 10, 1 << 20);
        assert_eq!((scan.after, scan.upto, scan.skip_device), (0, None, None));
        // A page with more to come: still a first pull, at the last op sent.
        let res = |ops: Vec<u64>, more: bool, high: u64| ScanResult {
            ops: ops
                .into_iter()
                .map(|s| (s, serde_json::from_str(OP).unwrap()))
                .collect(),
            more,
            high,
            high_hlc: None,
            log_max: high,
            at_hlc: None,
        };
        let (next, more) = p.cursor.advance(&res(vec![3, 7], true, 20));
        assert!(more && next.is_first());
        let text = next.encode();
        assert_eq!(text, "v1:0:7371::7");
        let back = Cursor::decode(&text).unwrap().unwrap();
        assert_eq!(back, next);
        assert_eq!(back.scan(device, 10, 1 << 20).after, 7);
        // The last page: the stream resumes after the watermark, without own ops.
        let (done, more) = back.advance(&res(vec![9], false, 20));
        assert!(!more && !done.is_first());
        assert_eq!((done.seq, done.backfill.clone()), (20, None));
        assert_eq!(done.scan(device, 10, 1 << 20).skip_device, Some(device));
    }

    #[test]
    fn a_change_during_a_backfill_restarts_it() {
        let c = Cursor {
            seq: 9,
            scope: v(&["7371", "7372"]),
            backfill: Some(Backfill {
                exclude: v(&["7371"]),
                pos: 5,
            }),
        };
        let p = plan(Some(c), &v(&["7371", "7372", "7373"]));
        assert_eq!(
            p.cursor.backfill,
            Some(Backfill {
                exclude: v(&["7371"]),
                pos: 0
            })
        );
    }
}
