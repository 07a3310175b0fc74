//! The embedded store: every port on one redb database, with the Tape's key design
//! unchanged (see `cjaas_core::tape`).

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Notify;

use cjaas_core::auth::{ApiKeyRecord, SigningKeys};
use cjaas_core::envelope::StreamRecord;
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{
    AppendOutcome, ConfigStore, DeadLetter, DeadLetterSink, Document, DocumentStore, EventStream,
    Expect, StoreError, TapeStore, TenantRecord,
};
use cjaas_core::tape::{
    person_partition, Cursor, JourneyPage, JourneyQuery, Order, StoredEvent, TapeEntry,
};

/// (partition key, sort key) → TapeEntry JSON.
const TAPE: TableDefinition<(&str, &str), &str> = TableDefinition::new("tape");
/// dedup key → sort key of the entry it guards.
const DEDUP: TableDefinition<&str, &str> = TableDefinition::new("dedup");
/// sequence number → stream record data. The durable local stream.
const STREAM: TableDefinition<u64, &[u8]> = TableDefinition::new("stream");
/// origin → DeadLetter JSON.
pub(crate) const DEAD_LETTERS: TableDefinition<&str, &str> = TableDefinition::new("dead_letters");
const TENANTS: TableDefinition<&str, &str> = TableDefinition::new("tenants");
/// (tenant, key id) → ApiKeyRecord JSON.
const KEYS: TableDefinition<(&str, &str), &str> = TableDefinition::new("keys");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
/// person partition key → entries on that person's Tape.
const COUNTS: TableDefinition<&str, u64> = TableDefinition::new("counts");
/// (tenant, person) → when the person's Tape was last appended to (µs): the change feed.
const CHANGES: TableDefinition<(&str, &str), i64> = TableDefinition::new("changes");
/// sequence → (tenant, person, type, source, CloudEvent JSON): the recent live feed.
const LIVE: TableDefinition<u64, (&str, &str, &str, &str, &str)> = TableDefinition::new("live");
/// (pk, sk) → (revision, JSON body): views, aliases, snapshots.
const DOCS: TableDefinition<(&str, &str), (u64, &str)> = TableDefinition::new("docs");

const SIGNING_KEYS_META: &str = "signing_keys";

/// redb's page cache (its default is 1 GiB): most of the server's memory.
const CACHE_BYTES: usize = 256 * 1024 * 1024;

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    stream_signal: Arc<Notify>,
    dir: std::path::PathBuf,
}

fn transient(e: impl std::fmt::Display) -> StoreError {
    StoreError::Transient(e.to_string())
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("store records serialize")
}

/// Past its tenant's retention (the embedded store's TTL, applied on read and by
/// [`EmbeddedStore::sweep_expired`]).
fn expired(entry: &TapeEntry, now: i64) -> bool {
    entry.expires_at.is_some_and(|at| at <= now)
}

fn from_json<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, redb::Error> {
    serde_json::from_str(raw).map_err(|e| redb::Error::Corrupted(e.to_string()))
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, redb::Error> {
        std::fs::create_dir_all(dir).map_err(redb::Error::Io)?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(dir.join("cjaas.redb"))?;
        let txn = db.begin_write()?;
        txn.open_table(TAPE)?;
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
            db: Arc::new(db),
            stream_signal: Arc::new(Notify::new()),
            dir: dir.to_owned(),
        })
    }

    /// Runs blocking redb work off the async runtime.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, redb::Error> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(transient)?
            .map_err(transient)
    }

    /// The signing keyset of this installation, made on first use.
    pub fn signing_keys(&self) -> Result<SigningKeys, redb::Error> {
        let txn = self.db.begin_write()?;
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

    /// Appends entries to the live feed's log; returns their sequence numbers. Keeps
    /// the newest `keep` rows.
    pub async fn live_append(
        &self,
        entries: Vec<(String, String, String, String, String)>,
        keep: u64,
    ) -> Result<Vec<u64>, StoreError> {
        self.run(move |db| {
            let txn = db.begin_write()?;
            let seqs = {
                let mut live = txn.open_table(LIVE)?;
                let first = live.last()?.map_or(1, |(seq, _)| seq.value() + 1);
                let mut seqs = Vec::with_capacity(entries.len());
                for (seq, (t, p, ty, src, event)) in (first..).zip(&entries) {
                    live.insert(
                        seq,
                        (
                            t.as_str(),
                            p.as_str(),
                            ty.as_str(),
                            src.as_str(),
                            event.as_str(),
                        ),
                    )?;
                    seqs.push(seq);
                }
                let last = first + entries.len() as u64;
                if last > keep + 1 {
                    live.retain_in(..last - keep, |_, _| false)?;
                }
                seqs
            };
            txn.commit()?;
            Ok(seqs)
        })
        .await
    }

    /// The newest sequence number of the live feed (0 when empty).
    pub async fn live_last(&self) -> Result<u64, StoreError> {
        self.run(|db| {
            let txn = db.begin_read()?;
            let last = txn
                .open_table(LIVE)?
                .last()?
                .map_or(0, |(seq, _)| seq.value());
            Ok(last)
        })
        .await
    }

    /// The tenant's live events after `after`, up to `limit`, as (sequence, person,
    /// type, source, event).
    pub async fn live_after(
        &self,
        tenant: &TenantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String, String, String, String)>, StoreError> {
        let tenant = tenant.to_string();
        self.run(move |db| {
            let txn = db.begin_read()?;
            let live = txn.open_table(LIVE)?;
            let mut found = Vec::new();
            for row in live.range((after + 1)..)? {
                let (seq, value) = row?;
                let (t, p, ty, src, event) = value.value();
                if t == tenant {
                    found.push((
                        seq.value(),
                        p.to_owned(),
                        ty.to_owned(),
                        src.to_owned(),
                        event.to_owned(),
                    ));
                    if found.len() == limit {
                        break;
                    }
                }
            }
            Ok(found)
        })
        .await
    }

    /// The data directory (the archive lives beside the database, in `archive/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Wakes when records are put on the local stream.
    pub fn stream_signal(&self) -> Arc<Notify> {
        self.stream_signal.clone()
    }

    /// The oldest records on the local stream, up to `max`.
    pub async fn read_stream(&self, max: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.run(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(STREAM)?;
            table
                .iter()?
                .take(max)
                .map(|row| {
                    let (seq, data) = row?;
                    Ok((seq.value(), data.value().to_vec()))
                })
                .collect()
        })
        .await
    }

    /// Removes consumed records from the local stream.
    pub async fn ack_stream(&self, seqs: Vec<u64>) -> Result<(), StoreError> {
        self.run(move |db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(STREAM)?;
                for seq in seqs {
                    table.remove(seq)?;
                }
            }
            Ok(txn.commit()?)
        })
        .await
    }

    /// Every dead letter, for operators and tests.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.run(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(DEAD_LETTERS)?;
            table.iter()?.map(|row| from_json(row?.1.value())).collect()
        })
        .await
    }

    /// Deletes Tape entries (and their dedup marks) past their retention, as
    /// DynamoDB's TTL does in AWS. Returns how many went.
    pub async fn sweep_expired(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        let now = now.timestamp();
        self.run(move |db| {
            let txn = db.begin_write()?;
            let swept = {
                let mut tape = txn.open_table(TAPE)?;
                let mut marks = txn.open_table(DEDUP)?;
                let mut gone = Vec::new();
                for row in tape.iter()? {
                    let (key, value) = row?;
                    let entry: TapeEntry = from_json(value.value())?;
                    if expired(&entry, now) {
                        let (pk, sk) = key.value();
                        gone.push((pk.to_owned(), sk.to_owned(), entry.dedup_key()));
                    }
                }
                for (pk, sk, mark) in &gone {
                    tape.remove((pk.as_str(), sk.as_str()))?;
                    marks.remove(mark.as_str())?;
                }
                gone.len() as u64
            };
            txn.commit()?;
            Ok(swept)
        })
        .await
    }

    pub async fn tenant_records(&self) -> Result<Vec<TenantRecord>, StoreError> {
        self.run(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(TENANTS)?;
            table.iter()?.map(|row| from_json(row?.1.value())).collect()
        })
        .await
    }
}

#[async_trait]
impl TapeStore for EmbeddedStore {
    /// One write transaction (and one fsync) for the whole batch.
    async fn append_batch(&self, entries: &[TapeEntry]) -> Vec<Result<AppendOutcome, StoreError>> {
        let rows: Vec<(String, String, String, String, String, String)> = entries
            .iter()
            .map(|e| {
                let keys = (e.partition_key(), e.sort_key(), e.dedup_key(), to_json(e));
                (
                    keys.0,
                    keys.1,
                    keys.2,
                    keys.3,
                    e.tenant.to_string(),
                    e.person.to_string(),
                )
            })
            .collect();
        let count = rows.len();
        let result = self
            .run(move |db| {
                let txn = db.begin_write()?;
                let mut outcomes = Vec::with_capacity(rows.len());
                {
                    let mut marks = txn.open_table(DEDUP)?;
                    let mut tape = txn.open_table(TAPE)?;
                    let mut counts = txn.open_table(COUNTS)?;
                    let mut changes = txn.open_table(CHANGES)?;
                    let written = chrono::Utc::now().timestamp_micros();
                    for (pk, sk, dedup, json, tenant, person) in &rows {
                        if marks.get(dedup.as_str())?.is_some() {
                            outcomes.push(AppendOutcome::Duplicate);
                            continue;
                        }
                        marks.insert(dedup.as_str(), sk.as_str())?;
                        tape.insert((pk.as_str(), sk.as_str()), json.as_str())?;
                        let count = counts.get(pk.as_str())?.map_or(0, |c| c.value());
                        counts.insert(pk.as_str(), count + 1)?;
                        changes.insert((tenant.as_str(), person.as_str()), written)?;
                        outcomes.push(AppendOutcome::Appended);
                    }
                }
                txn.commit()?;
                Ok(outcomes)
            })
            .await;
        match result {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e); count],
        }
    }

    async fn count(&self, tenant: &TenantId, person: &PersonId) -> Result<u64, StoreError> {
        let pk = person_partition(tenant, person);
        self.run(move |db| {
            let txn = db.begin_read()?;
            let counts = txn.open_table(COUNTS)?;
            let count = counts.get(pk.as_str())?.map_or(0, |c| c.value());
            Ok(count)
        })
        .await
    }

    async fn query(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        query: &JourneyQuery,
    ) -> Result<JourneyPage, StoreError> {
        let pk = person_partition(tenant, person);
        let query = query.clone();
        let now = chrono::Utc::now().timestamp();
        self.run(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(TAPE)?;
            let Some(range) = query.key_range() else {
                return Ok(JourneyPage::default());
            };
            let after = range.resume_after.as_deref();
            let low = match (after, query.order) {
                (Some(a), Order::Asc) => Bound::Excluded((pk.as_str(), a)),
                _ => Bound::Included((pk.as_str(), range.lower.as_str())),
            };
            let high = match (after, query.order) {
                (Some(a), Order::Desc) => Bound::Excluded((pk.as_str(), a)),
                _ => Bound::Excluded((pk.as_str(), range.upper.as_str())),
            };
            let range = table.range::<(&str, &str)>((low, high))?;
            let rows: Box<dyn Iterator<Item = _>> = match query.order {
                Order::Asc => Box::new(range),
                Order::Desc => Box::new(range.rev()),
            };
            let mut events = Vec::new();
            for row in rows {
                let (key, value) = row?;
                let entry: TapeEntry = from_json(value.value())?;
                if !query.matches(&entry.ty, &entry.source) || expired(&entry, now) {
                    continue;
                }
                if events.len() == query.limit {
                    let last: &StoredEvent = events.last().expect("limit is at least 1");
                    return Ok(JourneyPage {
                        next: Some(Cursor {
                            after: last.sort_key.clone(),
                            order: query.order,
                        }),
                        events,
                    });
                }
                events.push(StoredEvent {
                    sort_key: key.value().1.to_owned(),
                    ty: entry.ty,
                    expires_at: entry.expires_at,
                    event: entry.event,
                });
            }
            Ok(JourneyPage { events, next: None })
        })
        .await
    }

    async fn holds(&self, entry: &TapeEntry) -> Result<bool, StoreError> {
        let mark = entry.dedup_key();
        self.run(move |db| {
            let txn = db.begin_read()?;
            let held = txn.open_table(DEDUP)?.get(mark.as_str())?.is_some();
            Ok(held)
        })
        .await
    }

    /// One write transaction: the entries, their dedup marks, the counter and the
    /// person's row of the change feed.
    async fn erase(&self, tenant: &TenantId, person: &PersonId) -> Result<u64, StoreError> {
        let pk = person_partition(tenant, person);
        let (tenant, person) = (tenant.to_string(), person.to_string());
        self.run(move |db| {
            let txn = db.begin_write()?;
            let erased = {
                let mut tape = txn.open_table(TAPE)?;
                let mut marks = txn.open_table(DEDUP)?;
                let rows: Vec<(String, TapeEntry)> = tape
                    .range::<(&str, &str)>((pk.as_str(), "")..)?
                    .map_while(|row| match row {
                        Ok((key, value)) if key.value().0 == pk => {
                            Some(from_json(value.value()).map(|e| (key.value().1.to_owned(), e)))
                        }
                        Ok(_) => None,
                        Err(e) => Some(Err(e.into())),
                    })
                    .collect::<Result<_, redb::Error>>()?;
                for (sk, entry) in &rows {
                    tape.remove((pk.as_str(), sk.as_str()))?;
                    marks.remove(entry.dedup_key().as_str())?;
                }
                txn.open_table(COUNTS)?.remove(pk.as_str())?;
                txn.open_table(CHANGES)?
                    .remove((tenant.as_str(), person.as_str()))?;
                rows.len() as u64
            };
            txn.commit()?;
            Ok(erased)
        })
        .await
    }

    /// Scans the tenant's rows of the change feed: one small row per person.
    async fn changed_since(
        &self,
        tenant: &TenantId,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<PersonId>, StoreError> {
        let tenant = tenant.to_string();
        let since = since.map_or(i64::MIN, |t| t.timestamp_micros());
        self.run(move |db| {
            let txn = db.begin_read()?;
            let changes = txn.open_table(CHANGES)?;
            let mut persons = Vec::new();
            for row in changes.range::<(&str, &str)>((tenant.as_str(), "")..)? {
                let (key, written) = row?;
                let (row_tenant, person) = key.value();
                if row_tenant != tenant {
                    break;
                }
                if written.value() >= since {
                    persons.push(
                        PersonId::parse(person)
                            .map_err(|e| redb::Error::Corrupted(e.to_string()))?,
                    );
                }
            }
            Ok(persons)
        })
        .await
    }
}

#[async_trait]
impl EventStream for EmbeddedStore {
    async fn put_records(&self, records: &[StreamRecord]) -> Result<Vec<usize>, StoreError> {
        let data: Vec<Vec<u8>> = records.iter().map(|r| r.data.clone()).collect();
        self.run(move |db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(STREAM)?;
                let first = table.last()?.map_or(0, |(seq, _)| seq.value() + 1);
                for (seq, bytes) in (first..).zip(&data) {
                    table.insert(seq, bytes.as_slice())?;
                }
            }
            Ok(txn.commit()?)
        })
        .await?;
        self.stream_signal.notify_one();
        Ok(Vec::new())
    }
}

#[async_trait]
impl DeadLetterSink for EmbeddedStore {
    async fn put(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let (origin, json) = (letter.origin.clone(), to_json(letter));
        self.run(move |db| {
            let txn = db.begin_write()?;
            txn.open_table(DEAD_LETTERS)?
                .insert(origin.as_str(), json.as_str())?;
            Ok(txn.commit()?)
        })
        .await
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<DeadLetter>, StoreError> {
        let tenant = tenant.to_string();
        let all = self.dead_letters().await?;
        Ok(all
            .into_iter()
            .filter(|l| l.tenant.as_deref() == Some(tenant.as_str()))
            .collect())
    }

    async fn page(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let (tenant, after) = (tenant.to_string(), after.map(str::to_owned));
        self.run(move |db| crate::dead_letters::page(db, &tenant, after.as_deref(), limit))
            .await
    }

    async fn get(&self, tenant: &TenantId, origin: &str) -> Result<Option<DeadLetter>, StoreError> {
        let (tenant, origin) = (tenant.to_string(), origin.to_owned());
        self.run(move |db| crate::dead_letters::get(db, &tenant, &origin))
            .await
    }

    async fn remove(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let origin = letter.origin.clone();
        self.run(move |db| {
            let txn = db.begin_write()?;
            txn.open_table(DEAD_LETTERS)?.remove(origin.as_str())?;
            Ok(txn.commit()?)
        })
        .await
    }
}

#[async_trait]
impl ConfigStore for EmbeddedStore {
    async fn create_tenant(&self, tenant: &TenantRecord) -> Result<bool, StoreError> {
        let (name, json) = (tenant.tenant.to_string(), to_json(tenant));
        self.run(move |db| {
            let txn = db.begin_write()?;
            let created = {
                let mut table = txn.open_table(TENANTS)?;
                let exists = table.get(name.as_str())?.is_some();
                if !exists {
                    table.insert(name.as_str(), json.as_str())?;
                }
                !exists
            };
            txn.commit()?;
            Ok(created)
        })
        .await
    }

    async fn list_tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let records = self.tenant_records().await?;
        Ok(records.into_iter().map(|r| r.tenant).collect())
    }

    async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<TenantRecord>, StoreError> {
        let name = tenant.to_string();
        self.run(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(TENANTS)?;
            let row = table.get(name.as_str())?;
            row.map(|v| from_json(v.value())).transpose()
        })
        .await
    }

    async fn update_tenant(&self, tenant: &TenantRecord) -> Result<(), StoreError> {
        let (name, json) = (tenant.tenant.to_string(), to_json(tenant));
        self.run(move |db| {
            let txn = db.begin_write()?;
            txn.open_table(TENANTS)?
                .insert(name.as_str(), json.as_str())?;
            Ok(txn.commit()?)
        })
        .await
    }

    async fn put_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let (tenant, id, json) = (key.tenant.to_string(), key.key_id.clone(), to_json(key));
        self.run(move |db| {
            let txn = db.begin_write()?;
            txn.open_table(KEYS)?
                .insert((tenant.as_str(), id.as_str()), json.as_str())?;
            Ok(txn.commit()?)
        })
        .await
    }

    async fn get_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let (tenant, id) = (tenant.to_string(), key_id.to_owned());
        self.run(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(KEYS)?;
            let row = table.get((tenant.as_str(), id.as_str()))?;
            row.map(|v| from_json(v.value())).transpose()
        })
        .await
    }

    async fn list_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let tenant = tenant.to_string();
        self.run(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(KEYS)?;
            let start = (tenant.as_str(), "");
            table
                .range::<(&str, &str)>(start..)?
                .map_while(|row| match row {
                    Ok((key, value)) if key.value().0 == tenant => Some(from_json(value.value())),
                    Ok(_) => None,
                    Err(e) => Some(Err(e.into())),
                })
                .collect()
        })
        .await
    }
}

#[async_trait]
impl DocumentStore for EmbeddedStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Document>, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.run(move |db| {
            let txn = db.begin_read()?;
            let docs = txn.open_table(DOCS)?;
            let found = docs.get((pk.as_str(), sk.as_str()))?.map(|v| {
                let (revision, body) = v.value();
                Document {
                    body: body.to_owned(),
                    revision,
                }
            });
            Ok(found)
        })
        .await
    }

    async fn put(
        &self,
        pk: &str,
        sk: &str,
        body: &str,
        expect: Expect,
    ) -> Result<bool, StoreError> {
        let (pk, sk, body) = (pk.to_owned(), sk.to_owned(), body.to_owned());
        self.run(move |db| {
            let txn = db.begin_write()?;
            let written = {
                let mut docs = txn.open_table(DOCS)?;
                let current = docs.get((pk.as_str(), sk.as_str()))?.map(|v| v.value().0);
                let holds = match expect {
                    Expect::Anything => true,
                    Expect::Absent => current.is_none(),
                    Expect::Revision(r) => current == Some(r),
                };
                if holds {
                    let revision = current.unwrap_or(0) + 1;
                    docs.insert((pk.as_str(), sk.as_str()), (revision, body.as_str()))?;
                }
                holds
            };
            txn.commit()?;
            Ok(written)
        })
        .await
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.run(move |db| {
            let txn = db.begin_write()?;
            txn.open_table(DOCS)?.remove((pk.as_str(), sk.as_str()))?;
            Ok(txn.commit()?)
        })
        .await
    }

    async fn list(&self, pk: &str) -> Result<Vec<(String, Document)>, StoreError> {
        self.list_page(pk, None, usize::MAX).await
    }

    async fn list_page(
        &self,
        pk: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Document)>, StoreError> {
        let (pk, after) = (pk.to_owned(), after.map(str::to_owned));
        self.run(move |db| {
            let txn = db.begin_read()?;
            let docs = txn.open_table(DOCS)?;
            let mut found = Vec::new();
            let low = match &after {
                Some(after) => Bound::Excluded((pk.as_str(), after.as_str())),
                None => Bound::Included((pk.as_str(), "")),
            };
            for row in docs
                .range::<(&str, &str)>((low, Bound::Unbounded))?
                .take(limit)
            {
                let (key, value) = row?;
                let ((row_pk, sk), (revision, body)) = (key.value(), value.value());
                if row_pk != pk {
                    break;
                }
                found.push((
                    sk.to_owned(),
                    Document {
                        body: body.to_owned(),
                        revision,
                    },
                ));
            }
            Ok(found)
        })
        .await
    }
}
