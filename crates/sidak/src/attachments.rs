//! `sidak device attach | detach | attachments | fetch | blob-quota`: photos, signatures and
//! documents on one field device (docs/protocol.md, *Attachments*; the store keeps the bytes,
//! `sidak device sync` moves them after the edits).
//!
//! Every failure names its stable code in brackets (`[media_type_not_allowed] …`), the codes
//! the store, the sync engine and the server use, so a script can match on them.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value as Json, json};
use sidak_client::{FetchOutcome, SyncEngine, SyncError, Transport};
use sidak_core::RecordId;
use sidak_core::attachment::{BlobHash, ContentRef, MEDIA_TYPES};
use sidak_store::{AttachInfo, BlobInfo, BlobState, Origin, Store, StoreError};

/// The record field that holds attachment references (the schema's name for it).
const FIELD: &str = "attachments";

/// How many references `attachments` lists as missing here: enough for a day's visits, and a
/// bound on the scan.
const MISSING_LISTED: usize = 1_000;

/// A store failure as a person and a script read it: `[code] message`.
pub fn coded(e: StoreError) -> anyhow::Error {
    anyhow!("[{}] {e}", e.code())
}

/// A sync engine failure as `[code] message`.
pub fn coded_sync(e: SyncError) -> anyhow::Error {
    anyhow!("[{}] {e}", e.code())
}

/// What the officer said about an attachment on the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Described<'a> {
    /// `--caption`.
    pub caption: Option<&'a str>,
    /// `--taken`: RFC 3339, or `now`.
    pub taken: Option<&'a str>,
    /// `--geo`: `lat,lon`.
    pub geo: Option<&'a str>,
    /// `--type`; guessed from the file when absent.
    pub media_type: Option<&'a str>,
}

/// A media type a file's first bytes show, allowed or not (naming a refused one helps the
/// officer more than "unknown").
fn sniff(head: &[u8]) -> Option<&'static str> {
    match head {
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some("image/png"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some("image/webp"),
        [b'%', b'P', b'D', b'F', b'-', ..] => Some("application/pdf"),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some("image/gif"),
        [b'I', b'I', 0x2A, 0x00, ..] | [b'M', b'M', 0x00, 0x2A, ..] => Some("image/tiff"),
        [b'B', b'M', ..] => Some("image/bmp"),
        [
            _,
            _,
            _,
            _,
            b'f',
            b't',
            b'y',
            b'p',
            b'h',
            b'e',
            b'i',
            b'c' | b'x',
            ..,
        ]
        | [
            _,
            _,
            _,
            _,
            b'f',
            b't',
            b'y',
            b'p',
            b'm',
            b'i',
            b'f',
            b'1',
            ..,
        ] => Some("image/heic"),
        _ => None,
    }
}

/// The media type a file's extension names, if it is one we know.
fn by_extension(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "gif" => "image/gif",
        "tif" | "tiff" => "image/tiff",
        "bmp" => "image/bmp",
        "heic" | "heif" => "image/heic",
        _ => return None,
    })
}

/// The extension a fetched blob is written with by default.
fn extension_for(media_type: &str) -> &'static str {
    match media_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "application/pdf" => "pdf",
        _ => "bin",
    }
}

/// Decides the media type of `path` (whose first bytes are `head`): the one given, checked
/// against the allowed list and against what the bytes show; else what the bytes show; else
/// what the extension says. Refuses a type the server would refuse, before anything is kept.
fn media_type_of(path: &Path, head: &[u8], given: Option<&str>) -> Result<String> {
    let allowed = MEDIA_TYPES.join(", ");
    let sniffed = sniff(head);
    if let Some(given) = given {
        let given = given.trim().to_ascii_lowercase();
        if !MEDIA_TYPES.contains(&given.as_str()) {
            bail!("[media_type_not_allowed] --type {given} is not allowed; allowed: {allowed}");
        }
        if let Some(s) = sniffed
            && s != given
        {
            bail!(
                "[media_type_mismatch] {} is {s} by its first bytes, not {given}: drop --type or correct it",
                path.display()
            );
        }
        return Ok(given);
    }
    let (found, how) = match (sniffed, by_extension(path)) {
        (Some(s), _) => (s, "its first bytes"),
        (None, Some(e)) => (e, "its extension"),
        (None, None) => bail!(
            "[media_type_unknown] cannot tell what {} is (not JPEG, PNG, WebP or PDF by its first bytes, and no known extension): give --type, one of {allowed}",
            path.display()
        ),
    };
    if !MEDIA_TYPES.contains(&found) {
        bail!(
            "[media_type_not_allowed] {} is {found} by {how}, which is not allowed; allowed: {allowed} (convert it first, e.g. to JPEG)",
            path.display()
        );
    }
    Ok(found.to_owned())
}

/// `--taken now` as RFC 3339 with this machine's offset; anything else as given (the store
/// checks it).
fn taken_at(taken: Option<&str>) -> Option<String> {
    taken.map(|t| {
        if t.eq_ignore_ascii_case("now") {
            chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
        } else {
            t.to_owned()
        }
    })
}

/// `sidak device attach RECORD FILE`: streams the file into the store and adds its reference
/// to the record, in one transaction.
pub fn attach(
    store: &mut Store,
    record: RecordId,
    file: &Path,
    described: Described<'_>,
    json: bool,
) -> Result<()> {
    let mut head = [0u8; 16];
    let n = {
        let mut f =
            File::open(file).with_context(|| format!("[io] cannot open {}", file.display()))?;
        read_up_to(&mut f, &mut head)
            .with_context(|| format!("[io] cannot read {}", file.display()))?
    };
    let media_type = media_type_of(file, &head[..n], described.media_type)?;
    let taken = taken_at(described.taken);
    let attached = store
        .attach(
            record,
            file,
            &media_type,
            AttachInfo {
                caption: described.caption,
                taken_at: taken.as_deref(),
                geo: described.geo,
            },
        )
        .map_err(coded)?;
    let c = &attached.content;
    if json {
        println!(
            "{}",
            json!({
                "record": record.to_string(), "local_seq": attached.edited.seq,
                "attachment": content_json(c), "new_blob": attached.new_blob,
                "warnings": attached.edited.warnings,
            })
        );
    } else {
        println!(
            "attached {} ({}, {}) to {record}; it uploads with the next sync",
            c.hash,
            bytes_text(c.size),
            c.media_type
        );
        if !attached.new_blob {
            println!("(the same bytes were already on this device: kept once)");
        }
        for w in &attached.edited.warnings {
            eprintln!("warning [{}]: {}", w.code, w.message);
        }
    }
    Ok(())
}

/// Reads until `buf` is full or the file ends.
fn read_up_to(f: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn parse_hash(hash: &str) -> Result<BlobHash> {
    BlobHash::parse(hash.trim()).map_err(|e| anyhow!("[{}] {e}: {hash:?}", e.code()))
}

/// The references a record's `attachments` set holds (elements that do not parse are skipped:
/// the server validated them, and a newer format is not this version's to read).
fn references(store: &Store, record: RecordId) -> Result<Vec<ContentRef>> {
    let entry = store
        .get(record)
        .map_err(coded)?
        .ok_or_else(|| coded(StoreError::NotFound(record)))?;
    Ok(entry
        .record
        .members(FIELD)
        .iter()
        .filter_map(|e| ContentRef::parse(e).ok())
        .collect())
}

/// `sidak device detach RECORD HASH`.
pub fn detach(store: &mut Store, record: RecordId, hash: &str, json: bool) -> Result<()> {
    let hash = parse_hash(hash)?;
    let content = references(store, record)?
        .into_iter()
        .find(|c| c.hash == hash)
        .ok_or_else(|| coded(StoreError::NotAttached { record, hash }))?;
    let edited = store.detach(record, &content).map_err(coded)?;
    if json {
        println!(
            "{}",
            json!({"record": record.to_string(), "local_seq": edited.seq, "removed": content_json(&content)})
        );
    } else {
        println!(
            "removed {hash} from {record}; the bytes stay on this device until the server holds them"
        );
    }
    Ok(())
}

/// A reference as JSON (our own spelling, the fields of the canonical element).
fn content_json(c: &ContentRef) -> Json {
    json!({
        "hash": c.hash.to_hex(), "size": c.size, "media_type": c.media_type,
        "taken_at": c.taken_at, "geo": c.geo, "caption": c.caption, "element": c.to_element(),
    })
}

/// Where a blob stands here, as JSON: `{"state": …, …}`.
fn state_json(b: Option<&BlobInfo>) -> Json {
    let Some(b) = b else {
        return json!({"state": "not_here"});
    };
    let origin = match b.origin {
        Origin::Own => "own",
        Origin::Fetched => "fetched",
    };
    match &b.state {
        BlobState::Uploading { acked } => {
            json!({"state": "uploading", "origin": origin, "acked": acked})
        }
        BlobState::Uploaded => json!({"state": "uploaded", "origin": origin}),
        BlobState::Damaged { reason } => {
            json!({"state": "damaged", "origin": origin, "reason": reason})
        }
        BlobState::Held => json!({"state": "held", "origin": origin}),
        BlobState::Partial { held } => json!({"state": "partial", "origin": origin, "held": held}),
    }
}

/// Where a blob stands here, for people.
fn state_text(b: Option<&BlobInfo>) -> String {
    let Some(b) = b else {
        return "not on this device (sidak device fetch HASH)".into();
    };
    match &b.state {
        BlobState::Uploading { acked: 0 } => "waiting for upload".into(),
        BlobState::Uploading { acked } => format!(
            "uploading: {} of {} acknowledged by the server",
            bytes_text(*acked),
            bytes_text(b.size)
        ),
        BlobState::Uploaded => "uploaded (the server holds it)".into(),
        BlobState::Damaged { reason } => format!("DAMAGED, not sent: {reason}"),
        BlobState::Held => "fetched".into(),
        BlobState::Partial { held } => format!(
            "download cut at {} of {} (fetch again to resume)",
            bytes_text(*held),
            bytes_text(b.size)
        ),
    }
}

/// A size for people: `512 B`, `300.0 KiB`, `20.0 MiB`, `1.2 GiB` (exact bytes are in `--json`).
pub fn bytes_text(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let x = n as f64;
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", x / KIB),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", x / KIB / KIB),
        _ => format!("{:.1} GiB", x / KIB / KIB / KIB),
    }
}

/// `sidak device attachments [RECORD]`.
pub fn list(store: &Store, record: Option<&RecordId>, json: bool) -> Result<()> {
    if let Some(&record) = record {
        let refs = references(store, record)?;
        let mut rows = Vec::new();
        for c in &refs {
            rows.push((c, store.blob(&c.hash).map_err(coded)?));
        }
        if json {
            let items: Vec<Json> = rows
                .iter()
                .map(|(c, b)| {
                    let mut v = content_json(c);
                    v["here"] = state_json(b.as_ref());
                    v
                })
                .collect();
            println!(
                "{}",
                json!({"record": record.to_string(), "attachments": items})
            );
            return Ok(());
        }
        if rows.is_empty() {
            println!("{record} has no attachments");
        }
        for (c, b) in &rows {
            println!(
                "{}  {}  {}  {}",
                c.hash,
                c.media_type,
                bytes_text(c.size),
                state_text(b.as_ref())
            );
            let details: Vec<String> = [
                c.caption.as_ref().map(|x| format!("caption {x:?}")),
                c.taken_at.as_ref().map(|x| format!("taken {x}")),
                c.geo.as_ref().map(|x| format!("at {x}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !details.is_empty() {
                println!("    {}", details.join(", "));
            }
        }
        return Ok(());
    }
    let blobs = store.blobs().map_err(coded)?;
    let missing = store.missing_blobs(MISSING_LISTED).map_err(coded)?;
    let usage = store.blob_usage().map_err(coded)?;
    if json {
        let held: Vec<Json> = blobs
            .iter()
            .map(|b| {
                let mut v = state_json(Some(b));
                v["hash"] = json!(b.hash.to_hex());
                v["size"] = json!(b.size);
                v["media_type"] = json!(b.media_type);
                v
            })
            .collect();
        println!(
            "{}",
            json!({
                "blobs": held,
                "missing": missing.iter().map(content_json).collect::<Vec<_>>(),
                "usage": usage_json(&usage),
            })
        );
        return Ok(());
    }
    for b in &blobs {
        println!(
            "{}  {}  {}  {}",
            b.hash,
            b.media_type,
            bytes_text(b.size),
            state_text(Some(b))
        );
    }
    for c in &missing {
        println!(
            "{}  {}  {}  {}",
            c.hash,
            c.media_type,
            bytes_text(c.size),
            state_text(None)
        );
    }
    print_usage(&usage);
    Ok(())
}

fn usage_json(u: &sidak_store::BlobUsage) -> Json {
    json!({
        "own_bytes": u.own_bytes, "fetched_bytes": u.fetched_bytes, "quota": u.quota,
        "waiting_blobs": u.waiting_blobs, "waiting_bytes": u.waiting_bytes, "damaged_blobs": u.damaged_blobs,
    })
}

fn print_usage(u: &sidak_store::BlobUsage) {
    println!(
        "own: {}, {} waiting for upload with {} not yet acknowledged{}; fetched: {}; quota: {}",
        bytes_text(u.own_bytes),
        u.waiting_blobs,
        bytes_text(u.waiting_bytes),
        if u.damaged_blobs > 0 {
            format!(", {} DAMAGED", u.damaged_blobs)
        } else {
            String::new()
        },
        bytes_text(u.fetched_bytes),
        u.quota.map_or_else(|| "none".to_owned(), bytes_text)
    );
}

/// `sidak device blob-quota [QUOTA|none]`.
pub fn quota(store: &mut Store, quota: Option<&str>, json: bool) -> Result<()> {
    let evicted = match quota {
        None => None,
        Some(q) if q.trim().eq_ignore_ascii_case("none") => {
            Some(store.set_blob_quota(None).map_err(coded)?)
        }
        Some(q) => {
            let bytes = crate::sizes::parse_bytes(q).map_err(|e| anyhow!("[invalid_size] {e}"))?;
            Some(store.set_blob_quota(Some(bytes)).map_err(coded)?)
        }
    };
    let usage = store.blob_usage().map_err(coded)?;
    if json {
        println!(
            "{}",
            json!({"usage": usage_json(&usage), "evicted": evicted})
        );
        return Ok(());
    }
    if let Some(n) = evicted {
        println!("quota set; {n} fetched attachment(s) evicted to fit");
    }
    print_usage(&usage);
    Ok(())
}

/// The reference a record held here makes to `hash`, if any (the size and type a download is
/// checked against).
fn reference_to(store: &Store, hash: &BlobHash) -> Result<Option<ContentRef>> {
    // Every reference not held whole here; a held one needs no reference to be written out.
    Ok(store
        .missing_blobs(usize::MAX)
        .map_err(coded)?
        .into_iter()
        .find(|c| c.hash == *hash))
}

/// `sidak device fetch HASH [--out FILE]`: downloads the blob unless it is held whole (then no
/// server is asked, so this works offline), and writes it out.
pub async fn fetch_command(
    store: &mut Store,
    tls: &sidak_client::TlsOptions,
    link: &crate::device::LinkArgs,
    hash: &str,
    out: Option<&Path>,
    json: bool,
) -> Result<()> {
    let hash = parse_hash(hash)?;
    let held = store
        .blob(&hash)
        .map_err(coded)?
        .is_some_and(|b| !matches!(b.state, BlobState::Partial { .. }));
    let downloaded = if held {
        0
    } else {
        let content = reference_to(store, &hash)?.ok_or_else(|| {
            anyhow!(
                "[blob_not_found] no record on this device references {hash}: sync first (an attachment outside this device's area is never sent)"
            )
        })?;
        let server = crate::sync::server_of(store)?;
        let config = sidak_client::SyncConfig {
            app_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            ..sidak_client::SyncConfig::default()
        };
        crate::sync::with_engine(
            &server,
            tls,
            link,
            config,
            Download {
                store,
                content: &content,
                json,
            },
        )
        .await?
    };
    write_and_report(store, &hash, out, downloaded, json)
}

/// One download on demand, over whichever transport the flags chose.
struct Download<'a> {
    store: &'a mut Store,
    content: &'a ContentRef,
    json: bool,
}

impl crate::sync::AsyncEngineFn<u64> for Download<'_> {
    async fn call<T: Transport>(self, engine: SyncEngine<T>) -> Result<u64> {
        let hash = self.content.hash;
        let spinner = crate::progress::spinner(self.json);
        let shown = spinner.clone();
        let mut on_progress = move |_: &sidak_client::Progress| shown.tick();
        let outcome = engine
            .fetch_blob(self.store, self.content, &mut on_progress)
            .await
            .map_err(coded_sync);
        spinner.finish_and_clear();
        match outcome? {
            FetchOutcome::Held => Ok(0),
            FetchOutcome::Fetched { bytes } => Ok(bytes),
            FetchOutcome::Pending => bail!(
                "[blob_pending] the server knows {hash} but the device that took it has not uploaded it yet: try again later"
            ),
            FetchOutcome::HeldBack => bail!(
                "[blobs_held_back] the download of {hash} was held back; what arrived is kept, fetch again to resume"
            ),
        }
    }
}

/// Writes a held blob to `out` (default `<hash>.<ext>`) and says so.
fn write_and_report(
    store: &Store,
    hash: &BlobHash,
    out: Option<&Path>,
    downloaded: u64,
    json: bool,
) -> Result<()> {
    let info = store
        .blob(hash)
        .map_err(coded)?
        .ok_or_else(|| coded(StoreError::UnknownBlob(*hash)))?;
    let target = out.map_or_else(
        || PathBuf::from(format!("{hash}.{}", extension_for(&info.media_type))),
        Path::to_path_buf,
    );
    let to_stdout = target == Path::new("-");
    let written = write_out(store, hash, &target)?;
    let shown = if to_stdout {
        "standard output".to_owned()
    } else {
        target.display().to_string()
    };
    let report = if json {
        json!({
            "hash": hash.to_hex(), "size": written, "media_type": info.media_type,
            "downloaded_bytes": downloaded, "out": shown, "verified": true,
        })
        .to_string()
    } else {
        let how = if downloaded > 0 {
            format!("downloaded {}", bytes_text(downloaded))
        } else {
            "already on this device".to_owned()
        };
        format!(
            "wrote {hash} ({}, {}) to {shown}: {how}; its hash is verified",
            bytes_text(written),
            info.media_type
        )
    };
    // On standard output the bytes are the output; the report goes to stderr.
    if to_stdout {
        eprintln!("{report}");
    } else {
        println!("{report}");
    }
    Ok(())
}

/// Copies a held blob to `target` (`-`: stdout) a chunk at a time, hashing what is written;
/// a file is written beside the target and renamed into place only once its hash matches, so a
/// half-written or wrong file never carries the name.
fn write_out(store: &Store, hash: &BlobHash, target: &Path) -> Result<u64> {
    let mut reader = store.open_blob(hash).map_err(coded)?;
    if target == Path::new("-") {
        let stdout = io::stdout();
        let mut w = HashingWriter::new(stdout.lock());
        io::copy(&mut reader, &mut w).context("[io] cannot write to standard output")?;
        w.inner
            .flush()
            .context("[io] cannot write to standard output")?;
        return w.verified(hash);
    }
    let name = target
        .file_name()
        .with_context(|| format!("[io] {} is not a file name", target.display()))?;
    let mut partial_name = std::ffi::OsString::from(".");
    partial_name.push(name);
    partial_name.push(".part");
    let partial = target.with_file_name(partial_name);
    let result = (|| -> Result<u64> {
        let file = File::create(&partial)
            .with_context(|| format!("[io] cannot create {}", partial.display()))?;
        let mut w = HashingWriter::new(io::BufWriter::new(file));
        io::copy(&mut reader, &mut w)
            .with_context(|| format!("[io] cannot write {}", partial.display()))?;
        let n = w.verified(hash)?;
        let file = w
            .inner
            .into_inner()
            .map_err(|e| anyhow!("[io] cannot write {}: {}", partial.display(), e.error()))?;
        file.sync_all()
            .with_context(|| format!("[io] cannot write {}", partial.display()))?;
        std::fs::rename(&partial, target)
            .with_context(|| format!("[io] cannot write {}", target.display()))?;
        Ok(n)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// A writer that hashes (BLAKE3) what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: blake3::Hasher,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: blake3::Hasher::new(),
            written: 0,
        }
    }

    /// The bytes written, if they hash to `expected`.
    fn verified(&self, expected: &BlobHash) -> Result<u64> {
        let found = BlobHash::from_bytes(*self.hasher.finalize().as_bytes());
        if found != *expected {
            bail!("[blob_hash_mismatch] the bytes written hash to {found}, not {expected}");
        }
        Ok(self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_come_from_the_bytes_then_the_name() {
        let p = Path::new("foto.bin");
        assert_eq!(
            media_type_of(p, &[0xFF, 0xD8, 0xFF, 0xE0], None).unwrap(),
            "image/jpeg"
        );
        assert_eq!(
            media_type_of(p, b"\x89PNG\r\n\x1a\n....", None).unwrap(),
            "image/png"
        );
        assert_eq!(
            media_type_of(p, b"RIFF\0\0\0\0WEBPVP8 ", None).unwrap(),
            "image/webp"
        );
        assert_eq!(
            media_type_of(Path::new("nota.PDF"), b"garbage", None).unwrap(),
            "application/pdf"
        );
        let gif = media_type_of(Path::new("a.jpg"), b"GIF89a....", None).unwrap_err();
        assert!(
            gif.to_string().contains("[media_type_not_allowed]")
                && gif.to_string().contains("image/gif"),
            "{gif}"
        );
        let unknown = media_type_of(p, b"hello", None).unwrap_err().to_string();
        assert!(unknown.contains("[media_type_unknown]"), "{unknown}");
        let bad = media_type_of(p, b"hello", Some("text/plain"))
            .unwrap_err()
            .to_string();
        assert!(bad.contains("[media_type_not_allowed]"), "{bad}");
        let lie = media_type_of(p, &[0xFF, 0xD8, 0xFF], Some("image/png"))
            .unwrap_err()
            .to_string();
        assert!(lie.contains("[media_type_mismatch]"), "{lie}");
        assert_eq!(
            media_type_of(p, b"hello", Some("Application/PDF")).unwrap(),
            "application/pdf"
        );
    }

    #[test]
    fn sizes_for_people() {
        assert_eq!(bytes_text(512), "512 B");
        assert_eq!(bytes_text(307_200), "300.0 KiB");
        assert_eq!(bytes_text(100_000), "97.7 KiB");
        assert_eq!(bytes_text(20 * 1024 * 1024), "20.0 MiB");
        assert_eq!(bytes_text(3 << 30), "3.0 GiB");
    }
}
