//! The device's signing key and its chain of sent ops (docs/evidence.md).
//!
//! Every op the device sends takes the next position of its chain when its batch is made, and
//! the batch carries the seal over its last link, made with the device's key. A batch keeps its
//! positions until answered, so a resend is the same chain; only a `chain_gap` or `chain_fork`
//! answer moves it ([`Store::rebase_chain`]). The secret never leaves this file (encrypted with
//! it when the store has a key); enrolling again makes a new one ([`Store::enrollment_key`]).

use rusqlite::{Connection, OptionalExtension, params};
use sidak_core::DeviceId;
use sidak_core::chain::{self, GENESIS, Hash32, SigningKey};
use sidak_core::protocol::{ChainHead, ChainV1};
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::sync::IN_FLIGHT;

fn fresh_seed() -> Zeroizing<[u8; 32]> {
    use rand::RngCore;
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(seed.as_mut());
    seed
}

fn seed_of(blob: Vec<u8>) -> Result<Zeroizing<[u8; 32]>> {
    let blob = Zeroizing::new(blob);
    let seed: [u8; 32] = blob
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::corrupt("signing key", "not 32 bytes"))?;
    Ok(Zeroizing::new(seed))
}

/// The device's signing key, made now if the store has none (a store from before keys).
pub(crate) fn signing_key(conn: &Connection) -> Result<SigningKey> {
    let stored: Option<Vec<u8>> =
        conn.query_row("SELECT sign_key FROM device WHERE one = 1", [], |r| {
            r.get(0)
        })?;
    let seed = match stored {
        Some(blob) => seed_of(blob)?,
        None => {
            let seed = fresh_seed();
            conn.execute(
                "UPDATE device SET sign_key = ?1 WHERE one = 1",
                [seed.as_slice()],
            )?;
            seed
        }
    };
    Ok(SigningKey::from_seed(&seed))
}

/// Makes the key an enrollment under way proposed the device's key (called once it succeeded).
pub(crate) fn adopt_pending(conn: &Connection) -> Result<()> {
    conn.execute(
        "UPDATE device SET sign_key = pending_key, pending_key = NULL WHERE one = 1 AND pending_key IS NOT NULL",
        [],
    )?;
    Ok(())
}

/// Starts the chain over (a new device id: its first op is position 1).
pub(crate) fn reset(conn: &Connection) -> Result<()> {
    conn.execute(
        "UPDATE device SET chain_n = 0, chain_link = NULL WHERE one = 1",
        [],
    )?;
    Ok(())
}

fn hash_of(conn: &Connection, batch_seq: i64) -> Result<Vec<Hash32>> {
    let mut stmt = conn
        .prepare_cached("SELECT body FROM ops WHERE state = ?2 AND batch_seq = ?1 ORDER BY seq")?;
    let rows = stmt.query_map(params![batch_seq, IN_FLIGHT], |r| r.get::<_, String>(0))?;
    rows.map(|b| {
        let body = b?;
        let canonical = sidak_core::canon::canonical(&body)
            .ok_or_else(|| StoreError::corrupt("op", "body is not JSON"))?;
        Ok(chain::hash_text(&canonical))
    })
    .collect()
}

fn hash32(blob: Option<Vec<u8>>, what: &str) -> Result<Hash32> {
    match blob {
        None => Ok(GENESIS),
        Some(b) => b
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::corrupt(what.to_owned(), "not 32 bytes")),
    }
}

/// Gives batch `batch_seq` (its ops already marked with it) the next positions of the chain,
/// after `head` (`None`: where the device's chain ends), and moves the chain's end past it.
pub(crate) fn place(
    conn: &Connection,
    device: DeviceId,
    batch_seq: i64,
    head: Option<(u64, Hash32)>,
) -> Result<()> {
    let (n, prev) = match head {
        Some(h) => h,
        None => {
            let (n, link): (i64, Option<Vec<u8>>) = conn.query_row(
                "SELECT chain_n, chain_link FROM device WHERE one = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            (u64::try_from(n).unwrap_or(0), hash32(link, "chain link")?)
        }
    };
    let hashes = hash_of(conn, batch_seq)?;
    let first = n.saturating_add(1);
    let (last, end) = chain::segment_end(device, first, &prev, &hashes)
        .map_err(|e| StoreError::corrupt("chain", e))?;
    conn.execute(
        "UPDATE batch SET chain_n = ?2, chain_prev = ?3, chain_last = ?4 WHERE batch_seq = ?1",
        params![batch_seq, first as i64, prev.as_slice(), end.as_slice()],
    )?;
    conn.execute(
        "UPDATE device SET chain_n = ?1, chain_link = ?2 WHERE one = 1",
        params![last as i64, end.as_slice()],
    )?;
    Ok(())
}

/// A placed batch's first position, the link before it, the link at its end, and its ops.
type Placed = (i64, Option<Vec<u8>>, Option<Vec<u8>>, i64);

/// The chain header of batch `batch_seq`, sealed with the device's current key (placing the
/// batch first if it was made before keys existed).
pub(crate) fn header(conn: &Connection, device: DeviceId, batch_seq: i64) -> Result<ChainV1> {
    let row = |conn: &Connection| -> Result<Option<Placed>> {
        Ok(conn
            .query_row(
                "SELECT b.chain_n, b.chain_prev, b.chain_last, \
                   (SELECT count(*) FROM ops o WHERE o.state = ?2 AND o.batch_seq = b.batch_seq) \
                 FROM batch b WHERE b.batch_seq = ?1 AND b.chain_n IS NOT NULL",
                params![batch_seq, IN_FLIGHT],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?)
    };
    let placed = match row(conn)? {
        Some(r) => r,
        None => {
            place(conn, device, batch_seq, None)?;
            row(conn)?.ok_or_else(|| StoreError::corrupt("batch", "not placed in the chain"))?
        }
    };
    let (first, prev, last, count) = placed;
    let first = u64::try_from(first).map_err(|e| StoreError::corrupt("chain position", e))?;
    let last_n = first.saturating_add(u64::try_from(count).unwrap_or(1).saturating_sub(1));
    let prev = hash32(prev, "chain link")?;
    let end = hash32(last, "chain link")?;
    let key = signing_key(conn)?;
    Ok(ChainV1 {
        n: first,
        prev: hex::encode(prev),
        seal: hex::encode(key.seal(device, last_n, &end)),
        key: Some(key.public().to_hex()),
    })
}

impl Store {
    /// The public key (64 hex) to send with an enrollment: a new key, adopted as the device's
    /// own once the enrollment succeeds ([`Store::set_identity`]); asked again, the same one.
    pub fn enrollment_key(&mut self) -> Result<String> {
        let stored: Option<Vec<u8>> =
            self.conn
                .query_row("SELECT pending_key FROM device WHERE one = 1", [], |r| {
                    r.get(0)
                })?;
        let seed = match stored {
            Some(blob) => seed_of(blob)?,
            None => {
                let seed = fresh_seed();
                self.conn.execute(
                    "UPDATE device SET pending_key = ?1 WHERE one = 1",
                    [seed.as_slice()],
                )?;
                seed
            }
        };
        Ok(SigningKey::from_seed(&seed).public().to_hex())
    }

    /// The device's public key (64 hex), if it has one yet.
    pub fn public_key(&self) -> Result<Option<String>> {
        let stored: Option<Vec<u8>> =
            self.conn
                .query_row("SELECT sign_key FROM device WHERE one = 1", [], |r| {
                    r.get(0)
                })?;
        stored
            .map(|b| {
                let seed = seed_of(b)?;
                Ok(SigningKey::from_seed(&seed).public().to_hex())
            })
            .transpose()
    }

    /// Continues the chain from where the server's copy ends (`409 chain_gap` after a server
    /// restore, `409 chain_fork` after this store was restored or copied): the batch in flight
    /// takes the positions after `head`, unchanged otherwise. Returns whether a batch moved.
    pub fn rebase_chain(&mut self, head: &ChainHead) -> Result<bool> {
        let device = self.device_id().ok_or(StoreError::NotEnrolled)?;
        let link = chain::parse_hex::<32>(&head.link, "chain link")
            .map_err(|e| StoreError::BadQuery(format!("the server's chain head: {e}")))?;
        let tx = self.conn.transaction()?;
        let in_flight: Option<i64> = tx
            .query_row("SELECT batch_seq FROM batch", [], |r| r.get(0))
            .optional()?;
        let moved = match in_flight {
            Some(seq) => {
                place(&tx, device, seq, Some((head.n, link)))?;
                true
            }
            None => {
                tx.execute(
                    "UPDATE device SET chain_n = ?1, chain_link = ?2 WHERE one = 1",
                    params![i64::try_from(head.n).unwrap_or(i64::MAX), link.as_slice()],
                )?;
                false
            }
        };
        tx.commit()?;
        Ok(moved)
    }
}
