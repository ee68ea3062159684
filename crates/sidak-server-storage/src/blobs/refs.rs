//! Which blobs an op references: the one rule `blob_refs` is filled by, on every backend and
//! for every op appended to the log (device pushes and office writes alike).

use sidak_core::OpV1;
use sidak_core::attachment::{BlobHash, ContentRef};

use super::model::BlobRef;

/// The set field whose elements are content references (docs/data-model.md, *Attachments*).
pub const ATTACHMENTS_FIELD: &str = "attachments";

/// The hashes `op` adds to its record's `attachments` (removes add nothing: a reference is
/// never taken back, the removed photo stays evidence in the record's history).
pub fn added(op: &OpV1) -> Vec<BlobHash> {
    let mut out: Vec<BlobHash> = op
        .changes
        .iter()
        .filter(|c| c.op == "add" && c.field == ATTACHMENTS_FIELD)
        .filter_map(|c| c.value.as_str())
        .filter_map(|e| ContentRef::parse(e).ok())
        .map(|r| r.hash)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The references that appending `ops` with log numbers `seqs` makes.
pub fn of_appended(ops: &[OpV1], seqs: &[i64]) -> Vec<BlobRef> {
    ops.iter()
        .zip(seqs)
        .flat_map(|(op, seq)| {
            added(op).into_iter().map(|hash| BlobRef {
                hash,
                record: op.id,
                seq: *seq,
            })
        })
        .collect()
}

/// Whether any of `ops` adds an attachment (a backend then takes the lock that keeps
/// garbage collection from deleting a blob this write references).
pub fn any_added<'a>(ops: impl IntoIterator<Item = &'a OpV1>) -> bool {
    ops.into_iter().any(|op| !added(op).is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sidak_core::wire::ChangeV1;
    use sidak_core::{DeviceId, Hlc, RecordId};

    fn change(op: &str, field: &str, value: serde_json::Value) -> ChangeV1 {
        ChangeV1 {
            op: op.into(),
            field: field.into(),
            value,
            seen: Default::default(),
        }
    }

    #[test]
    fn only_added_attachments_count() {
        let a =
            ContentRef::new(BlobHash::of(b"a"), 1, "image/png").unwrap_or_else(|e| panic!("{e}"));
        let b =
            ContentRef::new(BlobHash::of(b"b"), 1, "image/png").unwrap_or_else(|e| panic!("{e}"));
        let mut a2 = a.clone();
        a2.caption = Some("again".into());
        let op = OpV1 {
            id: RecordId::from_u128(1),
            kind: "visit".into(),
            region: "7371011001".into(),
            hlc: Hlc::new(1, 0, DeviceId::from_u128(1)),
            create: false,
            changes: vec![
                change("add", "attachments", a.to_element().into()),
                change("add", "attachments", a2.to_element().into()),
                change("remove", "attachments", b.to_element().into()),
                change("add", "team", b.to_element().into()),
                change("add", "attachments", "not a reference".into()),
            ],
            writer: None,
            restamps: None,
        };
        assert_eq!(added(&op), vec![a.hash]);
        assert_eq!(
            of_appended(std::slice::from_ref(&op), &[7]),
            vec![BlobRef {
                hash: a.hash,
                record: op.id,
                seq: 7
            }]
        );
        assert!(any_added([&op]));
    }
}
