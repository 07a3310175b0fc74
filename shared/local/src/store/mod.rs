//! The embedded store: every port on one redb database, with the Tape's key design
//! unchanged (see `cjaas_core::tape`).
//!
//! - `tape`: the Tape (`TapeStore`) and its expiry sweep.
//! - `log`: the local stream (`EventStream`), the live log, and their erasure.
//! - `config`: tenants and keys (`ConfigStore`), dead letters (`DeadLetterSink`).
//! - `docs`: documents (`DocumentStore`).
//! - `steps`: the Tape's lean projection for analytics, and its backfill.
//! - `rewrite`: rewriting the database into a fresh file (after an erasure).

mod config;
mod docs;
mod entry;
mod group;
mod log;
mod rewrite;
mod step_key;
mod steps;
mod tape;
mod tape_fold;

pub use log::LiveRow;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::Notify;

use cjaas_core::auth::SigningKeys;
use cjaas_core::ports::StoreError;

/// (partition key, sort key) → the TapeEntry: its fields' JSON, a newline, the event's
/// text (older rows: the entry as JSON; see `entry`).
const TAPE: TableDefinition<(&str, &str), &str> = TableDefinition::new("tape");
/// (partition key, time µs, event hash) → the entry's lean projection
/// (`cjaas_core::projection`), written in the entry's transaction.
const STEPS: TableDefinition<(&str, i64, u128), &[u8]> = TableDefinition::new("tape_steps");
/// dedup key → sort key of the entry it guards.
const DEDUP: TableDefinition<&str, &str> = TableDefinition::new("dedup");
/// sequence number → stream record data. The durable local stream.
const STREAM: TableDefinition<u64, &[u8]> = TableDefinition::new("stream");
/// origin → DeadLetter JSON.
pub(crate) const DEAD_LETTERS: TableDefinition<&str, &str> = TableDefinition::new("dead_letters");
const TENANTS: TableDefinition<&str, &str> = TableDefinition::new("tenants");
/// (tenant, key id) → ApiKeyRecord JSON.
const KEYS: TableDefinition<(&str, &str), &str> = TableDefinition::new("keys");
/// Settings and counters: the signing keys, the next stream and live positions.
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
/// person partition key → entries on that person's Tape.
const COUNTS: TableDefinition<&str, u64> = TableDefinition::new("counts");
/// (tenant, person) → when the person's Tape was last appended to (µs): the change feed.
const CHANGES: TableDefinition<(&str, &str), i64> = TableDefinition::new("changes");
/// sequence → (tenant, person, type, source, CloudEvent JSON): the recent live feed.
const LIVE: TableDefinition<u64, (&str, &str, &str, &str, &str)> = TableDefinition::new("live");
/// (pk, sk) → (revision, JSON body): views, aliases, snapshots.
pub(crate) const DOCS: TableDefinition<(&str, &str), (u64, &str)> = TableDefinition::new("docs");

const SIGNING_KEYS_META: &str = "signing_keys";
/// Present once every Tape entry has its row in [`STEPS`] (see `tape::STEPS_COMPLETE`).
const STEPS_META: &str = "tape_steps";

/// redb's page cache in MiB unless the operator sets it (`CJAAS_CACHE_MIB`; redb's own
/// default is 1 GiB): most of the server's memory.
pub const DEFAULT_CACHE_MIB: usize = 256;

const FILE: &str = "cjaas.redb";

#[derive(Clone)]
pub struct EmbeddedStore {
    /// Every operation holds the read side for its duration; rewriting the file into a
    /// fresh one holds the write side, so no operation runs on the old file meanwhile.
    db: Arc<RwLock<Database>>,
    stream_signal: Arc<Notify>,
    dir: PathBuf,
    /// Held by the poller for each batch and by an erasure of the local log, so an
    /// erasure never races a batch in flight.
    drain: Arc<tokio::sync::Mutex<()>>,
    /// Puts waiting to share the local stream's next commit.
    stream_queue: Arc<group::StreamQueue>,
    /// Tape appends commit without their own fsync (see [`EmbeddedStore::deferring_append_sync`]).
    defer_append_sync: bool,
    /// Erasures of the local log so far (see [`EmbeddedStore::erasures`]).
    erasures: Arc<AtomicU64>,
    /// redb's page cache, also for the fresh file of a rewrite.
    cache_bytes: usize,
}

fn transient(e: impl std::fmt::Display) -> StoreError {
    StoreError::Transient(e.to_string())
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("store records serialize")
}

/// Past its tenant's retention (the embedded store's TTL, applied on read and by
/// [`EmbeddedStore::sweep_expired`]).
/// Whether an entry expiring at `expires_at` (Unix seconds) is past its retention at
/// `now`: reads leave it out, and the sweep deletes it.
fn expired(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_some_and(|at| at <= now)
}

fn from_json<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, redb::Error> {
    serde_json::from_str(raw).map_err(|e| redb::Error::Corrupted(e.to_string()))
}

fn open_file(path: &Path, cache_bytes: usize) -> Result<Database, redb::Error> {
    Ok(Database::builder()
        .set_cache_size(cache_bytes)
        .create(path)?)
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `dir`, with a page cache of
    /// [`DEFAULT_CACHE_MIB`].
    pub fn open(dir: &Path) -> Result<Self, redb::Error> {
        Self::open_with_cache(dir, DEFAULT_CACHE_MIB << 20)
    }

    /// Opens (or creates) the store in `dir`, with a page cache of at most
    /// `cache_bytes`: a smaller one holds less memory, and reads its pages again
    /// more often.
    pub fn open_with_cache(dir: &Path, cache_bytes: usize) -> Result<Self, redb::Error> {
        std::fs::create_dir_all(dir).map_err(redb::Error::Io)?;
        rewrite::remove_leftover(dir).map_err(redb::Error::Io)?;
        let db = open_file(&dir.join(FILE), cache_bytes)?;
        let txn = db.begin_write()?;
        let fresh = txn.open_table(TAPE)?.is_empty()?;
        txn.open_table(STEPS)?;
        // A store with no entries yet has every projection it needs.
        if fresh {
            txn.open_table(META)?.insert(STEPS_META, "complete")?;
        }
        txn.open_table(DEDUP)?;
        txn.open_table(STREAM)?;
        txn.open_table(DEAD_LETTERS)?;
        txn.open_table(TENANTS)?;
        txn.open_table(KEYS)?;
        txn.open_table(META)?;
        txn.open_table(COUNTS)?;
        txn.open_table(DOCS)?;
        txn.open_table(CHANGES)?;
        txn.open_table(LIVE)?;
        txn.commit()?;
        Ok(Self {
            db: Arc::new(RwLock::new(db)),
            stream_signal: Arc::new(Notify::new()),
            dir: dir.to_owned(),
            drain: Arc::new(tokio::sync::Mutex::new(())),
            stream_queue: Arc::default(),
            defer_append_sync: false,
            erasures: Arc::default(),
            cache_bytes,
        })
    }

    /// This store, with Tape appends that commit without their own fsync: they become
    /// durable with the next durable commit (redb keeps commits in order, so a crash
    /// loses at most a suffix of them). For the local server's Tape writer only: each
    /// of its appends is followed by the durable acknowledgement of the stream records
    /// it came from, so an append a crash loses is read from the stream again.
    pub fn deferring_append_sync(&self) -> Self {
        Self {
            defer_append_sync: true,
            ..self.clone()
        }
    }

    /// Runs blocking redb work off the async runtime.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, redb::Error> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let db = db.read().unwrap_or_else(PoisonError::into_inner);
            work(&db)
        })
        .await
        .map_err(transient)?
        .map_err(transient)
    }

    /// The signing keyset of this installation, made on first use.
    pub fn signing_keys(&self) -> Result<SigningKeys, redb::Error> {
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let txn = db.begin_write()?;
        let keys = {
            let mut meta = txn.open_table(META)?;
            let existing = meta.get(SIGNING_KEYS_META)?.map(|v| v.value().to_owned());
            match existing {
                Some(config) => SigningKeys::parse(&config)
                    .map_err(|e| redb::Error::Corrupted(e.to_string()))?,
                None => {
                    let keys = SigningKeys::generate("local-1");
                    meta.insert(SIGNING_KEYS_META, keys.to_config().as_str())?;
                    keys
                }
            }
        };
        txn.commit()?;
        Ok(keys)
    }

    /// The data directory (the archive lives beside the database, in `archive/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Wakes when records are put on the local stream.
    pub fn stream_signal(&self) -> Arc<Notify> {
        self.stream_signal.clone()
    }

    /// How many erasures of the local log this process has made: the poller reads a
    /// batch written before one again rather than finish it.
    pub fn erasures(&self) -> u64 {
        self.erasures.load(Ordering::SeqCst)
    }

    /// Held while a batch of the local stream is in flight (see the poller).
    pub async fn drain_guard(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.drain.lock().await
    }

    pub async fn tenant_records(&self) -> Result<Vec<cjaas_core::ports::TenantRecord>, StoreError> {
        self.run(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(TENANTS)?;
            table.iter()?.map(|row| from_json(row?.1.value())).collect()
        })
        .await
    }
}
