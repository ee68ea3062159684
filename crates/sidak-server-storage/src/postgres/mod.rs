//! The PostgreSQL backend: one database shared by several stateless server instances.
//!
//! **Connections.** A bounded [`deadpool_postgres`] pool per instance
//! ([`DEFAULT_POOL_SIZE`], or `pool_max_size` in the URL). Connecting and checking a
//! connection are bounded ([`DB_TIMEOUT`]) and dead peers are found by TCP keepalive, so
//! when the database is unreachable a request fails fast with
//! [`StorageError::Unavailable`] (503 `unavailable`) instead of hanging, and the instance
//! keeps serving `/healthz` and recovers on its own: a dead connection is noticed
//! (`is_closed`) and replaced at the next checkout. Waiting for a *free* connection under
//! load is bounded only by the server's request timeout.
//!
//! **The pull cursor under concurrent writers.** With one SQLite writer, sequence numbers
//! commit in order. Here several transactions (on several instances) append to the log at
//! once, and `nextval` hands out 41 to a transaction that may commit *after* the one
//! holding 42: a device pulling in between would move its cursor past 42 and never see 41.
//! So a scan exposes only ops below the oldest sequence number still in flight:
//!
//! - **Reservation.** Before a push draws its numbers it takes a *shared, transaction-level
//!   advisory lock* whose key is a lower bound of them: the sequence's `last_value + 1`,
//!   read in the same statement (numbers only grow, and `CACHE 1` makes `last_value`
//!   cover every session). Unlike a row in a table, a lock is visible to every session the
//!   moment it is taken, without a commit; PostgreSQL drops it when the transaction ends
//!   (commit, rollback, or a crashed instance's connection closing), *after* the commit
//!   became visible. Shared locks never wait on each other, so pushes stay concurrent.
//! - **Watermark.** A scan first reads, in this order (a correlated subquery forces it),
//!   `S`, the last number handed out, then `M`, the smallest reserved key of this database
//!   in `pg_locks`; then, in a *later* statement with a fresh snapshot, the ops with
//!   `seq <= h = min(S, M - 1)`.
//! - **Why no op `<= h` can be missed.** Take a push holding number `n <= h`. Its
//!   reservation `k <= n` was taken before `n` was drawn. If it was still held when `M` was
//!   read, `M <= k`, so `h < n`: impossible. If it was taken after `M` was read, `n` was
//!   drawn after `S` was read, so `n > S >= h`: impossible. So the push had ended before `M`
//!   was read, hence before the page's snapshot was taken: its ops are visible, or it
//!   aborted and `n` is a gap that will never be filled. This is the cursor invariant of
//!   [`Storage::scan_ops`].
//!
//! Every insert into `ops` must go through [`push::reserve_and_number`]; a `nextval`
//! without a reservation would break the argument above.
//!
//! Why not the alternatives: a table of in-flight reservations is invisible until the
//! reserving transaction commits (so it needs a second connection and leases for crashed
//! writers); a counter row locked until commit makes every push in the country commit one
//! after another; numbering by transaction id with `pg_snapshot_xmin` needs no lock, but
//! `xmin` is cluster-wide, so any writing transaction on the server (another database's
//! `CREATE DATABASE`, a migration, a slow batch job) would hold back what every device
//! sees. Here only sidak's own pushes in this database can delay a pull, by the length of
//! a push transaction (milliseconds; at most `idle_in_transaction_session_timeout`, which
//! [`PostgresStorage::open`] sets, if an instance freezes mid-push).
//!
//! **Writes** are in [`push`]; the central office's queries and writes in [`office`]; the
//! schema and its migrations (run at start under an advisory lock, so instances starting
//! together do not race) in [`schema`].

mod blobs;
mod evidence;
mod office;
mod push;
mod schema;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use sidak_core::protocol::{DeviceStatus, PushResponse};
use sidak_core::{DeviceId, RecordId, RecordV1};
use tokio_postgres::{IsolationLevel, NoTls};

use crate::sql::rows::{devices_in_order, json, officers_in_order, parse, unjson, wipe_state};
use crate::sql::statements as st;
use crate::sync::PageCut;
use crate::sync::ingest::Batch;
use crate::{
    DeviceAuth, DeviceInfo, EnrollError, EnrollPlan, NewDevice, Officer, Page, PageRequest, Role,
    Scan, ScanResult, StorageError, StorageResult, StoredDevice, SyncStore, Thing, User,
    UserRecord, WipeOrder,
};

/// Connections per instance when the URL does not say (`pool_max_size=`): a push or a pull
/// holds one for a few milliseconds, so 16 keep two cores busy while leaving most of
/// PostgreSQL's default 100 connections to other instances.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// Longest wait to open a connection or to check one on return. Short, so an unreachable
/// database answers 503 quickly instead of holding the request.
pub const DB_TIMEOUT: Duration = Duration::from_secs(5);

/// How soon a connection whose peer vanished without closing it (a dead host, a dropped
/// route) is declared dead: TCP keepalive probes after this much silence, every
/// [`KEEPALIVE_INTERVAL`], up to [`KEEPALIVE_RETRIES`] times (about a minute in all).
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// See [`KEEPALIVE_IDLE`].
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// See [`KEEPALIVE_IDLE`].
pub const KEEPALIVE_RETRIES: u32 = 3;

/// Namespace of reservation locks: a reservation for sequence number `n` is the advisory
/// lock `RESERVATION_NS << 48 | n` (sequence numbers stay below 2^48, the `ops_seq` maximum:
/// 2.8 × 10^14 ops). Other advisory locks of sidak use keys outside it.
pub const RESERVATION_NS: i64 = 0x5344; // "SD"

/// How long a session may sit idle inside a transaction before PostgreSQL ends it: a push
/// holds a reservation (and so holds back every pull) until it ends, so an instance that
/// freezes mid-push must not hold it forever. Pushes never idle for more than milliseconds.
pub const IDLE_IN_TRANSACTION_TIMEOUT_MS: u64 = 30_000;

/// Key of the advisory lock that makes "create the first user" atomic across instances.
const BOOTSTRAP_LOCK: i64 = 0x7369_6461_6b62_6f6f;

/// Turns a driver error into a storage error: lost or refused connections, shutdowns and
/// exhausted connection slots are `Unavailable` (retry later), the rest `Internal`.
pub(crate) fn db(e: tokio_postgres::Error) -> StorageError {
    if let Some(d) = e.as_db_error() {
        let code = d.code().code();
        // 08: connection exception; 53: insufficient resources (too many connections);
        // 57P: operator intervention (shutdown, terminated backend, starting up).
        if code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") {
            return StorageError::Unavailable(format!("{code}: {}", d.message()));
        }
        return StorageError::Internal(format!("{code}: {}", d.message()));
    }
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    let text = e.to_string();
    if e.is_closed()
        || io
        || text.starts_with("error connecting")
        || text.starts_with("timeout")
        || text.starts_with("error communicating")
    {
        StorageError::Unavailable(text)
    } else {
        StorageError::Internal(text)
    }
}

/// Turns a pool error into a storage error (a checkout that timed out is `Unavailable`).
pub(crate) fn pool_error(e: PoolError) -> StorageError {
    match e {
        PoolError::Backend(e) => db(e),
        PoolError::Timeout(t) => {
            StorageError::Unavailable(format!("no database connection within the timeout ({t:?})"))
        }
        PoolError::Closed => StorageError::Unavailable("the connection pool is closed".into()),
        other => StorageError::Internal(other.to_string()),
    }
}

/// Splits `pool_max_size=N` (ours) from a database URL, leaving what tokio-postgres reads.
fn split_url(url: &str) -> StorageResult<(String, usize)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), DEFAULT_POOL_SIZE));
    };
    let mut size = DEFAULT_POOL_SIZE;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.strip_prefix("pool_max_size=") {
            Some(n) => {
                size = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    StorageError::Unavailable(format!(
                        "pool_max_size must be a positive number, not {n:?}"
                    ))
                })?;
            }
            None => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, size))
}

/// The PostgreSQL backend (see the module docs for its pool and its cursor).
pub struct PostgresStorage {
    pool: Pool,
    cursor_key: [u8; 32],
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl PostgresStorage {
    /// Connects to `url` (`postgres://…`, optionally with `pool_max_size=N`) and migrates
    /// the schema. Fails with `Unavailable` when the database cannot be reached.
    pub async fn open(url: &str) -> StorageResult<PostgresStorage> {
        let (url, size) = split_url(url)?;
        // The URL may hold a password: never put it in an error message.
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StorageError::Unavailable(format!("the PostgreSQL URL cannot be read: {e}"))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DB_TIMEOUT);
        }
        config
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES);
        if config.get_options().is_none() {
            config.options(format!(
                "-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}"
            ));
        }
        if config.get_application_name().is_none() {
            // Shows in pg_stat_activity, so operators can tell sidak's sessions apart.
            config.application_name("sidak-server");
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // `Fast` trusts a connection unless its driver saw it close; a connection the
                // server dropped is closed as soon as its task notices, and a query on one
                // that is not yet noticed fails once with `unavailable`. `Verified` would
                // add a round trip to every request.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(size)
            // No bound of our own on waiting for a free connection: when all are busy the
            // request queues, like SQLite's writer queue, until the server's request timeout
            // (503 `timeout`). A short bound here turned load into errors (100 devices at once
            // on two cores waited up to 20 s). An unreachable database still fails fast: the
            // pool then has no live connection and creating one fails within `DB_TIMEOUT`.
            .wait_timeout(None)
            .create_timeout(Some(DB_TIMEOUT))
            .recycle_timeout(Some(DB_TIMEOUT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StorageError::Internal(format!("connection pool: {e}")))?;
        let ran = schema::migrate(&pool).await?;
        if ran > 0 {
            tracing::info!(migrations = ran, "postgres schema migrated");
        }
        let key: String = {
            let c = pool
                .get()
                .await
                .map_err(|e| StorageError::Unavailable(format!("connection pool: {e}")))?;
            c.query_one(st::CURSOR_KEY.pg(), &[])
                .await
                .map_err(db)?
                .try_get(0)
                .map_err(db)?
        };
        let cursor_key = super::parse_key(&key)?;
        let storage = PostgresStorage { pool, cursor_key };
        // The office index takes its layout at open, as on SQLite, not at the first office
        // query: the schema right after open is the schema in use.
        storage.office_prepare().await?;
        Ok(storage)
    }

    async fn client(&self) -> StorageResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(pool_error)
    }
}

fn to_officer(row: &tokio_postgres::Row) -> StorageResult<Officer> {
    let scope: String = row.try_get(2).map_err(db)?;
    Ok(Officer {
        id: row.try_get(0).map_err(db)?,
        name: row.try_get(1).map_err(db)?,
        scope: unjson(&scope)?,
    })
}

async fn get_officer(
    c: &impl deadpool_postgres::GenericClient,
    id: &str,
) -> StorageResult<Option<Officer>> {
    let stmt = c.prepare_cached(st::OFFICER.pg()).await.map_err(db)?;
    c.query_opt(&stmt, &[&id])
        .await
        .map_err(db)?
        .as_ref()
        .map(to_officer)
        .transpose()
}

fn to_device_info(r: &tokio_postgres::Row) -> StorageResult<DeviceInfo> {
    let id: String = r.try_get(0).map_err(db)?;
    let status: Option<String> = r.try_get(6).map_err(db)?;
    Ok(DeviceInfo {
        device_id: parse(&id)?,
        officer_id: r.try_get(1).map_err(db)?,
        name: r.try_get(2).map_err(db)?,
        enrolled_ms: r.try_get::<_, i64>(3).map_err(db)? as u64,
        last_sync_ms: r
            .try_get::<_, Option<i64>>(4)
            .map_err(db)?
            .map(|v| v as u64),
        revoked_ms: r
            .try_get::<_, Option<i64>>(5)
            .map_err(db)?
            .map(|v| v as u64),
        status: status.as_deref().map(unjson::<DeviceStatus>).transpose()?,
        clock_offset_ms: r.try_get(7).map_err(db)?,
        set_aside: r.try_get::<_, i64>(8).map_err(db)? as u64,
        wipe: wipe_state(
            r.try_get(9).map_err(db)?,
            r.try_get(10).map_err(db)?,
            r.try_get(11).map_err(db)?,
            r.try_get(12).map_err(db)?,
            r.try_get(13).map_err(db)?,
        )?,
    })
}

/// The watermark's two reads, in the order the argument in the module docs needs: the
/// correlated subquery on `pg_locks` cannot run before the row of `ops_seq` it refers to
/// was read. Returns `S` (last number handed out, 0 if none) and `M` (smallest reserved
/// number in this database, NULL if none).
const WATERMARK_SQL: &str = "SELECT s.last, ( \
       SELECT MIN(((l.classid::bigint << 32) | l.objid::bigint) & 281474976710655) FROM pg_locks l \
       WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND (l.classid::bigint >> 16) = $1 \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND s.last IS NOT NULL \
     ) FROM (SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS last FROM ops_seq) s";

/// The high watermark `h = min(S, M - 1)` (see the module docs): every op numbered at most
/// `h` is committed and visible to any statement that starts after this returns.
async fn safe_high(c: &impl deadpool_postgres::GenericClient) -> StorageResult<u64> {
    let stmt = c.prepare_cached(WATERMARK_SQL).await.map_err(db)?;
    let row = c.query_one(&stmt, &[&RESERVATION_NS]).await.map_err(db)?;
    let last: i64 = row.try_get(0).map_err(db)?;
    let reserved: Option<i64> = row.try_get(1).map_err(db)?;
    Ok(reserved.map_or(last, |m| last.min(m - 1)).max(0) as u64)
}

/// One page of ops at or below the watermark `$2`, in a statement (so a snapshot) that starts
/// after the watermark was read. `limit + 1` rows are asked for, to learn `more`.
const SCAN_SQL: &str = "SELECT seq, op FROM ops \
     WHERE seq > $1 AND seq <= $2 \
       AND EXISTS (SELECT 1 FROM unnest($3::text[]) p WHERE starts_with(region, p)) \
       AND NOT EXISTS (SELECT 1 FROM unnest($4::text[]) p WHERE starts_with(region, p)) \
       AND ($5::text IS NULL OR device_id <> $5::text) \
     ORDER BY seq LIMIT $6";

/// Reads a row of [`st::STORED_DEVICE`].
pub(crate) fn stored_device(row: &tokio_postgres::Row) -> StorageResult<StoredDevice> {
    let scope: String = row.try_get(1).map_err(db)?;
    Ok(StoredDevice {
        officer_id: row.try_get(0).map_err(db)?,
        scope: unjson(&scope)?,
        revoked: row.try_get(2).map_err(db)?,
    })
}

/// The device and its officer's scope as stored, read on `c` (in the caller's snapshot):
/// [`DeviceAuth::reread`], so a revoked device is `DeviceRevoked`.
pub(crate) async fn reread(
    c: &impl deadpool_postgres::GenericClient,
    device: &DeviceAuth,
) -> StorageResult<DeviceAuth> {
    let stmt = c.prepare_cached(st::STORED_DEVICE.pg()).await.map_err(db)?;
    let row = c
        .query_opt(&stmt, &[&device.device.to_string()])
        .await
        .map_err(db)?;
    device.reread(row.as_ref().map(stored_device).transpose()?)
}

/// One page of ops at or below the watermark `h` (from [`safe_high`], read in an earlier
/// statement than this one), on `c`.
async fn scan_below(
    c: &impl deadpool_postgres::GenericClient,
    scan: &Scan,
    mut h: u64,
) -> StorageResult<ScanResult> {
    if let Some(upto) = scan.upto {
        h = h.min(upto);
    }
    let high = h.max(scan.after);
    // The log's end and the timestamps the cursor needs (the watermark's and the
    // fingerprinted op's), read beside the watermark; an op numbered at most `high` is
    // committed, so these do not change under us.
    let points = c
        .prepare_cached(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM ops), \
                    (SELECT hlc FROM ops WHERE seq = $1), (SELECT hlc FROM ops WHERE seq = $2)",
        )
        .await
        .map_err(db)?;
    let at = scan.fingerprint_at.unwrap_or(0);
    let row = c
        .query_one(
            &points,
            &[
                &i64::try_from(high).unwrap_or(i64::MAX),
                &i64::try_from(at).unwrap_or(i64::MAX),
            ],
        )
        .await
        .map_err(db)?;
    let log_max = u64::try_from(row.try_get::<_, i64>(0).map_err(db)?).unwrap_or(0);
    let parse_hlc = |i: usize| -> StorageResult<Option<sidak_core::Hlc>> {
        let h: Option<String> = row.try_get(i).map_err(db)?;
        h.map(|h| parse(&h)).transpose()
    };
    let high_hlc = parse_hlc(1)?;
    let at_hlc = if scan.fingerprint_at.is_some() {
        parse_hlc(2)?
    } else {
        None
    };
    if scan.include.is_empty() || high <= scan.after {
        return Ok(ScanResult {
            ops: Vec::new(),
            more: false,
            high,
            high_hlc,
            log_max,
            at_hlc,
        });
    }
    let stmt = c.prepare_cached(SCAN_SQL).await.map_err(db)?;
    let after = i64::try_from(scan.after).unwrap_or(i64::MAX);
    let upto = i64::try_from(high).unwrap_or(i64::MAX);
    let skip = scan.skip_device.map(|d| d.to_string());
    let limit = i64::try_from(scan.limit.saturating_add(1)).unwrap_or(i64::MAX);
    let rows = c
        .query(
            &stmt,
            &[&after, &upto, &scan.include, &scan.exclude, &skip, &limit],
        )
        .await
        .map_err(db)?;
    let mut page = PageCut::new(scan);
    for row in &rows {
        let text: String = row.try_get(1).map_err(db)?;
        if !page.offer(row.try_get(0).map_err(db)?, &text)? {
            break;
        }
    }
    let (ops, more) = page.finish();
    Ok(ScanResult {
        ops,
        more,
        high,
        high_hlc,
        log_max,
        at_hlc,
    })
}

#[async_trait]
impl SyncStore for PostgresStorage {
    fn engine(&self) -> &'static str {
        "postgres"
    }

    async fn bootstrap_user(&self, user: UserRecord, now_ms: u64) -> StorageResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        // Two instances starting at once must not both create a first user: the check and
        // the insert run under one lock.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&BOOTSTRAP_LOCK])
            .await
            .map_err(db)?;
        let any = tx
            .query_opt(st::ANY_USER.pg(), &[])
            .await
            .map_err(db)?
            .is_some();
        if any {
            return Ok(false);
        }
        tx.execute(
            st::INSERT_USER.pg(),
            &[
                &user.username,
                &user.password_hash,
                &user.role.as_str(),
                &(now_ms as i64),
            ],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn create_user(&self, user: UserRecord, now_ms: u64) -> StorageResult<()> {
        let c = self.client().await?;
        let n = c
            .execute(
                "INSERT INTO users (username, password_hash, role, created_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
                &[
                    &user.username,
                    &user.password_hash,
                    &user.role.as_str(),
                    &(now_ms as i64),
                ],
            )
            .await
            .map_err(db)?;
        if n == 0 {
            return Err(StorageError::AlreadyExists(Thing::User(
                user.username.clone(),
            )));
        }
        Ok(())
    }

    async fn find_user(&self, username: &str) -> StorageResult<Option<UserRecord>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(st::FIND_USER.pg()).await.map_err(db)?;
        let Some(row) = c.query_opt(&stmt, &[&username]).await.map_err(db)? else {
            return Ok(None);
        };
        let role: String = row.try_get(2).map_err(db)?;
        let role = Role::parse(&role)
            .ok_or_else(|| StorageError::Internal(format!("unknown role {role:?}")))?;
        Ok(Some(UserRecord {
            username: row.try_get(0).map_err(db)?,
            password_hash: row.try_get(1).map_err(db)?,
            role,
        }))
    }

    async fn create_session(
        &self,
        token_hash: &str,
        username: &str,
        now_ms: u64,
        expires_ms: u64,
    ) -> StorageResult<()> {
        let c = self.client().await?;
        // Expired sessions are dropped here, so the table stays as small as the set of live logins.
        c.execute(st::DELETE_EXPIRED_SESSIONS.pg(), &[&(now_ms as i64)])
            .await
            .map_err(db)?;
        c.execute(
            st::INSERT_SESSION.pg(),
            &[
                &token_hash,
                &username,
                &(now_ms as i64),
                &(expires_ms as i64),
            ],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &str, now_ms: u64) -> StorageResult<Option<User>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(st::SESSION_USER.pg()).await.map_err(db)?;
        let Some(row) = c
            .query_opt(&stmt, &[&token_hash, &(now_ms as i64)])
            .await
            .map_err(db)?
        else {
            return Ok(None);
        };
        let username: String = row.try_get(0).map_err(db)?;
        let role: String = row.try_get(1).map_err(db)?;
        Ok(Role::parse(&role).map(|role| User { username, role }))
    }

    async fn delete_session(&self, token_hash: &str) -> StorageResult<()> {
        let c = self.client().await?;
        c.execute(st::DELETE_SESSION.pg(), &[&token_hash])
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn create_officer(&self, officer: Officer, now_ms: u64) -> StorageResult<()> {
        let c = self.client().await?;
        let n = c
            .execute(
                "INSERT INTO officers (id, name, scope, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT DO NOTHING",
                &[
                    &officer.id,
                    &officer.name,
                    &json(&officer.scope)?,
                    &(now_ms as i64),
                ],
            )
            .await
            .map_err(db)?;
        if n == 0 {
            return Err(StorageError::AlreadyExists(Thing::Officer(
                officer.id.clone(),
            )));
        }
        Ok(())
    }

    async fn set_scope(
        &self,
        officer_id: &str,
        scope: Vec<String>,
        now_ms: u64,
    ) -> StorageResult<Officer> {
        let c = self.client().await?;
        // One statement: the new scope is what every instance reads from the next request
        // on (devices read their officer's scope at authentication, never cache it).
        let row = c
            .query_opt(
                "UPDATE officers SET scope = $2, updated_ms = $3 WHERE id = $1 RETURNING id, name, scope",
                &[&officer_id, &json(&scope)?, &(now_ms as i64)],
            )
            .await
            .map_err(db)?
            .ok_or_else(|| StorageError::NotFound(Thing::Officer(officer_id.to_owned())))?;
        to_officer(&row)
    }

    async fn officer(&self, officer_id: &str) -> StorageResult<Option<Officer>> {
        let c = self.client().await?;
        get_officer(&c, officer_id).await
    }

    async fn officers(&self) -> StorageResult<Vec<Officer>> {
        let c = self.client().await?;
        let officers = c
            .query(st::OFFICERS.pg(), &[])
            .await
            .map_err(db)?
            .iter()
            .map(to_officer)
            .collect::<StorageResult<_>>()?;
        Ok(officers_in_order(officers))
    }

    async fn create_enrollment_code(
        &self,
        code_hash: &str,
        officer_id: &str,
        now_ms: u64,
        expires_ms: u64,
    ) -> StorageResult<()> {
        let c = self.client().await?;
        // INSERT … SELECT: the officer check and the insert are one statement.
        let n = c
            .execute(
                "INSERT INTO enrollment_codes (code_hash, officer_id, created_ms, expires_ms) \
                 SELECT $1, id, $3, $4 FROM officers WHERE id = $2",
                &[
                    &code_hash,
                    &officer_id,
                    &(now_ms as i64),
                    &(expires_ms as i64),
                ],
            )
            .await
            .map_err(db)?;
        if n == 0 {
            return Err(StorageError::NotFound(Thing::Officer(
                officer_id.to_owned(),
            )));
        }
        Ok(())
    }

    async fn enroll(
        &self,
        code_hash: &str,
        device: NewDevice,
    ) -> StorageResult<(DeviceId, Officer)> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        let now = device.now_ms as i64;
        let id = device.id.to_string();
        // The conditional UPDATE is the single-use guarantee across instances: it locks the
        // code's row, and a second request for the same code waits, re-checks
        // `used_by IS NULL` on the committed row and updates nothing.
        let used = tx
            .query_opt(
                "UPDATE enrollment_codes SET used_by = $2, used_ms = $3 \
                 WHERE code_hash = $1 AND used_by IS NULL AND expires_ms > $3 RETURNING officer_id",
                &[&code_hash, &id, &now],
            )
            .await
            .map_err(db)?;
        let officer_id: String = match used {
            Some(row) => row.try_get(0).map_err(db)?,
            None => {
                let row = tx
                    .query_opt(
                        "SELECT used_by FROM enrollment_codes WHERE code_hash = $1",
                        &[&code_hash],
                    )
                    .await
                    .map_err(db)?
                    .ok_or(EnrollError::UnknownCode)?;
                let used_by: Option<String> = row.try_get(0).map_err(db)?;
                return Err(if used_by.is_some() {
                    EnrollError::AlreadyUsed
                } else {
                    EnrollError::Expired
                }
                .into());
            }
        };
        let holder: Option<String> = match &device.keep {
            Some(k) => tx
                .query_opt(
                    "SELECT officer_id FROM devices WHERE id = $1 FOR UPDATE",
                    &[&k.device_id.to_string()],
                )
                .await
                .map_err(db)?
                .map(|r| r.try_get(0))
                .transpose()
                .map_err(db)?,
            None => None,
        };
        // An error here drops the transaction: the code stays unused.
        let chosen = match device.plan(&officer_id, holder.as_deref())? {
            EnrollPlan::Insert(chosen) => {
                tx.execute(
                    st::INSERT_DEVICE.pg(),
                    &[
                        &chosen.to_string(),
                        &officer_id,
                        &device.token_hash,
                        &device.name,
                        &now,
                    ],
                )
                .await
                .map_err(db)?;
                chosen
            }
            EnrollPlan::Rotate(chosen) => {
                tx.execute(
                    st::ROTATE_DEVICE.pg(),
                    &[&chosen.to_string(), &device.token_hash, &device.name],
                )
                .await
                .map_err(db)?;
                chosen
            }
        };
        if chosen != device.id {
            tx.execute(
                "UPDATE enrollment_codes SET used_by = $2 WHERE code_hash = $1",
                &[&code_hash, &chosen.to_string()],
            )
            .await
            .map_err(db)?;
        }
        if let Some(key) = &device.public_key {
            let chosen = chosen.to_string();
            for (sql, args) in [
                (
                    st::SET_DEVICE_KEY.pg(),
                    vec![&chosen as &(dyn tokio_postgres::types::ToSql + Sync), key],
                ),
                (st::RETIRE_KEYS.pg(), vec![&chosen, &now, key]),
                (st::INSERT_KEY.pg(), vec![&chosen, key, &now, &"enrollment"]),
            ] {
                tx.execute(sql, &args).await.map_err(db)?;
            }
        }
        let officer = get_officer(&tx, &officer_id)
            .await?
            .ok_or_else(|| StorageError::NotFound(Thing::Officer(officer_id.to_owned())))?;
        tx.commit().await.map_err(db)?;
        Ok((chosen, officer))
    }

    async fn holds_op(&self, hlc: &sidak_core::Hlc) -> StorageResult<bool> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(st::HOLDS_OP.pg()).await.map_err(db)?;
        let row = c.query_one(&stmt, &[&hlc.to_string()]).await.map_err(db)?;
        row.try_get(0).map_err(db)
    }

    async fn authenticate_device(&self, token_hash: &str) -> StorageResult<Option<DeviceAuth>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(st::AUTHENTICATE_DEVICE.pg())
            .await
            .map_err(db)?;
        let Some(row) = c.query_opt(&stmt, &[&token_hash]).await.map_err(db)? else {
            return Ok(None);
        };
        let id: String = row.try_get(0).map_err(db)?;
        let scope: String = row.try_get(2).map_err(db)?;
        Ok(Some(DeviceAuth {
            device: parse(&id)?,
            officer_id: row.try_get(1).map_err(db)?,
            scope: unjson(&scope)?,
            revoked: row.try_get::<_, Option<i64>>(3).map_err(db)?.is_some(),
            last_sync_ms: row
                .try_get::<_, Option<i64>>(4)
                .map_err(db)?
                .map(|v| v as u64),
            wipe: row
                .try_get::<_, Option<String>>(5)
                .map_err(db)?
                .as_deref()
                .and_then(WipeOrder::parse),
            wiped: row.try_get::<_, Option<i64>>(6).map_err(db)?.is_some(),
        }))
    }

    async fn devices(&self) -> StorageResult<Vec<DeviceInfo>> {
        let c = self.client().await?;
        let devices = c
            .query(st::DEVICES.pg(), &[])
            .await
            .map_err(db)?
            .iter()
            .map(to_device_info)
            .collect::<StorageResult<_>>()?;
        Ok(devices_in_order(devices))
    }

    async fn revoke_device(&self, device: DeviceId, now_ms: u64) -> StorageResult<DeviceInfo> {
        let c = self.client().await?;
        let id = device.to_string();
        let n = c
            .execute(st::REVOKE_DEVICE.pg(), &[&id, &(now_ms as i64)])
            .await
            .map_err(db)?;
        if n == 0 {
            return Err(StorageError::NotFound(Thing::Device(device)));
        }
        let row = c.query_one(st::DEVICE.pg(), &[&id]).await.map_err(db)?;
        to_device_info(&row)
    }

    async fn order_wipe(
        &self,
        device: DeviceId,
        order: WipeOrder,
        now_ms: u64,
    ) -> StorageResult<DeviceInfo> {
        let c = self.client().await?;
        let id = device.to_string();
        c.execute(
            st::ORDER_WIPE.pg(),
            &[&id, &(now_ms as i64), &order.as_str()],
        )
        .await
        .map_err(db)?;
        let row = c
            .query_opt(st::DEVICE.pg(), &[&id])
            .await
            .map_err(db)?
            .ok_or(StorageError::NotFound(Thing::Device(device)))?;
        to_device_info(&row)
    }

    async fn wipe_told(&self, device: DeviceId, now_ms: u64) -> StorageResult<()> {
        let c = self.client().await?;
        c.execute(st::WIPE_TOLD.pg(), &[&device.to_string(), &(now_ms as i64)])
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn wipe_done(&self, device: DeviceId, now_ms: u64, report: &str) -> StorageResult<()> {
        let c = self.client().await?;
        let n = c
            .execute(
                st::WIPE_DONE.pg(),
                &[&device.to_string(), &(now_ms as i64), &report],
            )
            .await
            .map_err(db)?;
        if n == 0 {
            return Err(StorageError::NotFound(Thing::Device(device)));
        }
        Ok(())
    }

    async fn touch_device(&self, device: DeviceId, now_ms: u64) -> StorageResult<()> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(st::TOUCH_DEVICE.pg()).await.map_err(db)?;
        c.execute(&stmt, &[&device.to_string(), &(now_ms as i64)])
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn push_batch(
        &self,
        device: &DeviceAuth,
        batch: Batch,
        now_ms: u64,
        max_skew_ms: u64,
    ) -> StorageResult<PushResponse> {
        push::push_batch(&self.pool, device, &batch, now_ms, max_skew_ms).await
    }

    async fn scan_ops(&self, scan: &Scan) -> StorageResult<ScanResult> {
        let c = self.client().await?;
        // Statement one: the watermark (see the module docs). Statement two, with its own
        // later snapshot: the page below it. Their order is the whole point; do not merge them.
        let h = safe_high(&c).await?;
        scan_below(&c, scan, h).await
    }

    async fn pull_page(&self, device: &DeviceAuth, page: &PageRequest) -> StorageResult<Page> {
        let mut c = self.client().await?;
        // The watermark first, as in `scan_ops`; then one REPEATABLE READ snapshot, taken by
        // its first statement (so after the watermark, as the cursor invariant needs), for
        // both the officer's scope the page is planned by and the page filtered by it.
        let h = safe_high(&c).await?;
        let tx = c
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db)?;
        let device = reread(&tx, device).await?;
        let (plan, scan) = page.plan(device.device, &device.scope);
        let found = scan_below(&tx, &scan, h).await?;
        tx.commit().await.map_err(db)?;
        Ok(Page {
            scope: device.scope,
            plan,
            found,
        })
    }

    fn cursor_key(&self) -> [u8; 32] {
        self.cursor_key
    }

    async fn record(&self, id: RecordId) -> StorageResult<Option<RecordV1>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(st::RECORD_STATE.pg()).await.map_err(db)?;
        let Some(row) = c.query_opt(&stmt, &[&id.to_string()]).await.map_err(db)? else {
            return Ok(None);
        };
        let state: String = row.try_get(0).map_err(db)?;
        unjson(&state).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_size_is_read_from_the_url_and_removed() {
        assert_eq!(
            split_url("postgres://u@h/db").ok(),
            Some(("postgres://u@h/db".to_owned(), DEFAULT_POOL_SIZE))
        );
        assert_eq!(
            split_url("postgres://u@h/db?pool_max_size=4&sslmode=disable").ok(),
            Some(("postgres://u@h/db?sslmode=disable".to_owned(), 4))
        );
        assert_eq!(
            split_url("postgres://u@h/db?pool_max_size=4").ok(),
            Some(("postgres://u@h/db".to_owned(), 4))
        );
        assert!(split_url("postgres://u@h/db?pool_max_size=0").is_err());
    }
}
