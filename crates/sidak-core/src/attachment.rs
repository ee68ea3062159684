//! Attachments: photos, signatures and documents referenced by content from a record's
//! `attachments` set field (docs/data-model.md, *Attachments*).
//!
//! A record never holds the bytes. Its `attachments` field is an add-wins set whose elements are
//! [`ContentRef`]s in one canonical text form, so that attaching or removing a photo is an
//! ordinary op: it merges, syncs, shows in history and obeys scope like any other edit. The
//! bytes travel separately (docs/protocol.md, *Attachments*) and are named by their BLAKE3
//! hash, so a blob can be checked against the reference that names it by anyone.
//!
//! The canonical form, with the optional parts in this order and only when present:
//!
//! ```text
//! b3:<64 lowercase hex>?size=<bytes>&type=<media type>&taken=<RFC 3339>&geo=<lat,lon>&caption=<percent-encoded>
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The largest blob a device may attach, in bytes (a server may set a lower limit).
pub const MAX_BLOB_BYTES: u64 = 20 * 1024 * 1024;

/// The longest caption, in characters.
pub const MAX_CAPTION_CHARS: usize = 200;

/// The media types an attachment may have: photos, signatures (PNG) and scanned documents.
pub const MEDIA_TYPES: &[&str] = &["image/jpeg", "image/png", "image/webp", "application/pdf"];

/// The longest a canonical reference can be (hash, numbers, a date, a position, a caption
/// of [`MAX_CAPTION_CHARS`] characters each percent-encoded as up to 4 UTF-8 bytes).
pub const MAX_REF_LEN: usize = 100 + 64 + 40 + 40 + 60 + MAX_CAPTION_CHARS * 12;

/// A BLAKE3 hash of a blob's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash([u8; 32]);

impl BlobHash {
    /// The hash of these bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// The hash from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The hash's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, AttachmentError> {
        let b = s.as_bytes();
        if b.len() != 64 || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(AttachmentError::InvalidHash);
        }
        let mut out = [0u8; 32];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0]);
            let lo = hex_val(pair[1]);
            out[i] = (hi << 4) | lo;
        }
        Ok(Self(out))
    }

    /// The hash as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        s
    }
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => c - b'a' + 10,
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({})", self.to_hex())
    }
}

impl Serialize for BlobHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for BlobHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What is wrong with an attachment reference or blob description.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AttachmentError {
    /// The hash is not 64 lowercase hex digits.
    #[error("the blob hash must be 64 lowercase hex digits (BLAKE3)")]
    InvalidHash,
    /// The text is not in the canonical `b3:<hash>?size=…&type=…` form.
    #[error(
        "an attachment is written b3:<hash>?size=<bytes>&type=<media type>[&taken=…][&geo=…][&caption=…]: {0}"
    )]
    Malformed(&'static str),
    /// The size is above [`MAX_BLOB_BYTES`].
    #[error("an attachment is at most {mib} MiB", mib = MAX_BLOB_BYTES / 1024 / 1024)]
    BadSize,
    /// The media type is not in [`MEDIA_TYPES`].
    #[error("media type {0:?} is not allowed; allowed: {list}", list = MEDIA_TYPES.join(", "))]
    MediaType(String),
    /// The time it was taken is not RFC 3339 with an offset.
    #[error("taken must be RFC 3339 with an offset, e.g. 2026-11-25T09:30:00+08:00")]
    BadTaken,
    /// The position is not `lat,lon` in range.
    #[error("geo must be lat,lon in decimal degrees")]
    BadGeo,
    /// The caption is empty or too long.
    #[error("a caption is 1 to {MAX_CAPTION_CHARS} characters")]
    BadCaption,
}

impl AttachmentError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidHash => "invalid_hash",
            Self::MediaType(_) => "media_type_not_allowed",
            Self::BadSize => "blob_too_large",
            _ => "invalid_attachment",
        }
    }
}

/// Checks that a media type may be attached.
pub fn check_media_type(media_type: &str) -> Result<(), AttachmentError> {
    if MEDIA_TYPES.contains(&media_type) {
        Ok(())
    } else {
        Err(AttachmentError::MediaType(
            media_type.chars().take(60).collect(),
        ))
    }
}

/// One attachment as a record's `attachments` set holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentRef {
    /// The BLAKE3 hash of the bytes.
    pub hash: BlobHash,
    /// The size of the bytes.
    pub size: u64,
    /// One of [`MEDIA_TYPES`].
    pub media_type: String,
    /// When it was taken (RFC 3339 with offset), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_at: Option<String>,
    /// Where it was taken (`lat,lon`), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<String>,
    /// What it shows, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

impl ContentRef {
    /// A reference to these bytes, with no time, place or caption yet.
    pub fn new(hash: BlobHash, size: u64, media_type: &str) -> Result<Self, AttachmentError> {
        let r = Self {
            hash,
            size,
            media_type: media_type.to_owned(),
            taken_at: None,
            geo: None,
            caption: None,
        };
        r.check()?;
        Ok(r)
    }

    /// Checks every part against the rules.
    pub fn check(&self) -> Result<(), AttachmentError> {
        if self.size == 0 {
            return Err(AttachmentError::Malformed(
                "an attachment is at least 1 byte",
            ));
        }
        if self.size > MAX_BLOB_BYTES {
            return Err(AttachmentError::BadSize);
        }
        check_media_type(&self.media_type)?;
        if let Some(t) = &self.taken_at
            && (chrono::DateTime::parse_from_rfc3339(t).is_err() || t.len() > 40)
        {
            return Err(AttachmentError::BadTaken);
        }
        if let Some(g) = &self.geo
            && (!crate::validate::is_geo(g) || g.len() > 60)
        {
            return Err(AttachmentError::BadGeo);
        }
        if let Some(c) = &self.caption {
            let n = c.chars().count();
            if n == 0 || n > MAX_CAPTION_CHARS || c.trim().is_empty() {
                return Err(AttachmentError::BadCaption);
            }
        }
        Ok(())
    }

    /// The canonical text form that the `attachments` set holds.
    pub fn to_element(&self) -> String {
        let mut s = format!(
            "b3:{}?size={}&type={}",
            self.hash, self.size, self.media_type
        );
        if let Some(t) = &self.taken_at {
            s.push_str("&taken=");
            encode_into(t, &mut s);
        }
        if let Some(g) = &self.geo {
            s.push_str("&geo=");
            encode_into(g, &mut s);
        }
        if let Some(c) = &self.caption {
            s.push_str("&caption=");
            encode_into(c, &mut s);
        }
        s
    }

    /// Parses the canonical text form; anything else (other order, other encoding) is refused,
    /// so one attachment has exactly one element.
    pub fn parse(element: &str) -> Result<Self, AttachmentError> {
        if element.len() > MAX_REF_LEN {
            return Err(AttachmentError::Malformed("too long"));
        }
        let rest = element
            .strip_prefix("b3:")
            .ok_or(AttachmentError::Malformed("it must start with b3:"))?;
        let (hash, query) = rest
            .split_once('?')
            .ok_or(AttachmentError::Malformed("size and type are missing"))?;
        let hash = BlobHash::parse(hash)?;
        let mut size = None;
        let mut media_type = None;
        let mut taken_at = None;
        let mut geo = None;
        let mut caption = None;
        let order = ["size", "type", "taken", "geo", "caption"];
        let mut last: Option<usize> = None;
        for part in query.split('&') {
            let (k, v) = part
                .split_once('=')
                .ok_or(AttachmentError::Malformed("a part has no ="))?;
            let at = order
                .iter()
                .position(|o| *o == k)
                .ok_or(AttachmentError::Malformed("unknown part"))?;
            if last.is_some_and(|l| at <= l) {
                return Err(AttachmentError::Malformed("parts out of order or repeated"));
            }
            last = Some(at);
            match k {
                "size" => {
                    if v.is_empty() || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit())
                    {
                        return Err(AttachmentError::Malformed(
                            "size must be a whole number of bytes, at least 1, without leading zeros",
                        ));
                    }
                    size = Some(v.parse::<u64>().map_err(|_| AttachmentError::BadSize)?);
                }
                "type" => media_type = Some(v.to_owned()),
                "taken" => taken_at = Some(decode(v)?),
                "geo" => geo = Some(decode(v)?),
                _ => caption = Some(decode(v)?),
            }
        }
        let r = Self {
            hash,
            size: size.ok_or(AttachmentError::Malformed("size is missing"))?,
            media_type: media_type.ok_or(AttachmentError::Malformed("type is missing"))?,
            taken_at,
            geo,
            caption,
        };
        r.check()?;
        if r.to_element() != element {
            return Err(AttachmentError::Malformed("not in canonical form"));
        }
        Ok(r)
    }
}

/// Percent-encodes everything but unreserved ASCII and the characters dates and positions use.
fn encode_into(v: &str, out: &mut String) {
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':' | b',' | b'+')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn decode(v: &str) -> Result<String, AttachmentError> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .ok_or(AttachmentError::Malformed("a cut %-escape"))?;
            let s =
                std::str::from_utf8(hex).map_err(|_| AttachmentError::Malformed("bad %-escape"))?;
            let byte = u8::from_str_radix(s, 16)
                .map_err(|_| AttachmentError::Malformed("bad %-escape"))?;
            out.push(byte);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| AttachmentError::Malformed("not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> ContentRef {
        ContentRef {
            hash: BlobHash::of(b"papan wajib lapor"),
            size: 301_234,
            media_type: "image/jpeg".into(),
            taken_at: Some("2026-11-25T09:30:00+08:00".into()),
            geo: Some("-5.1477,119.4327".into()),
            caption: Some("Daftar pekerja di dinding & papan K3 (100%)".into()),
        }
    }

    #[test]
    fn canonical_form_round_trips() {
        let r = sample();
        let e = r.to_element();
        assert!(e.starts_with("b3:"));
        assert!(e.contains("&caption=Daftar%20pekerja"));
        assert_eq!(ContentRef::parse(&e).unwrap(), r);
        let bare = ContentRef::new(r.hash, 10, "image/png").unwrap();
        assert_eq!(ContentRef::parse(&bare.to_element()).unwrap(), bare);
    }

    #[test]
    fn other_forms_of_one_attachment_are_refused() {
        let h = BlobHash::of(b"x").to_hex();
        for bad in [
            format!("b3:{h}?type=image/jpeg&size=10"),
            format!("b3:{h}?size=010&type=image/jpeg"),
            format!("b3:{h}?size=10&type=image/jpeg&caption=a b"),
            format!("b3:{h}?size=10&type=image/jpeg&caption=%61"),
            format!("b3:{h}?size=10&size=10&type=image/jpeg"),
            format!("b3:{}?size=10&type=image/jpeg", h.to_uppercase()),
            format!("b3:{h}?size=10&type=text/html"),
            format!("b3:{h}?size=0&type=image/jpeg"),
            format!("b3:{h}?size=99999999999&type=image/jpeg"),
            format!("b3:{h}?size=10&type=image/jpeg&geo=91,0"),
            format!("b3:{h}?size=10&type=image/jpeg&taken=yesterday"),
            format!("b3:{h}?size=10&type=image/jpeg&caption=%FF"),
            format!("b3:{h}?size=10&type=image/jpeg&caption=%2"),
            format!("b3:{h}?size=10&type=image/jpeg&caption="),
            format!("b3:{h}?size=10&type=image/jpeg&x=1"),
            format!("b3:{h}"),
            "https://example.org/a.jpg".into(),
        ] {
            assert!(ContentRef::parse(&bad).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn hashes_are_lowercase_hex() {
        let h = BlobHash::of(b"abc");
        assert_eq!(BlobHash::parse(&h.to_hex()).unwrap(), h);
        assert_eq!(h.to_hex(), blake3::hash(b"abc").to_hex().as_str());
        assert!(BlobHash::parse("00").is_err());
        assert!(BlobHash::parse(&"g".repeat(64)).is_err());
    }

    proptest! {
        #[test]
        fn any_valid_reference_round_trips_and_stays_short(
            bytes in any::<[u8; 32]>(),
            size in 1u64..=MAX_BLOB_BYTES,
            ty in 0usize..4,
            caption in proptest::option::of("\\PC{1,200}"),
            lat in -90.0f64..90.0, lon in -180.0f64..180.0,
            geo in any::<bool>(),
        ) {
            let r = ContentRef {
                hash: BlobHash::from_bytes(bytes),
                size,
                media_type: MEDIA_TYPES[ty].into(),
                taken_at: Some("2026-11-25T09:30:00+08:00".into()),
                geo: geo.then(|| format!("{lat:.6},{lon:.6}")),
                caption: caption.filter(|c| !c.trim().is_empty()),
            };
            let e = r.to_element();
            prop_assert!(e.len() <= MAX_REF_LEN);
            prop_assert_eq!(ContentRef::parse(&e).unwrap(), r);
        }

        #[test]
        fn parsing_any_text_never_panics(s in "\\PC{0,300}") {
            let _ = ContentRef::parse(&s);
        }
    }
}
