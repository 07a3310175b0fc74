//! The Tape on redb: entries, dedup marks, counters and the change feed.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};
use std::collections::HashMap;
use std::ops::Bound;

use cjaas_core::fold::TapeFold;
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{AppendOutcome, StoreError, TapeStore};
use cjaas_core::projection::{steps_from_entries, steps_of_persons_by_page, StepBatch, StepPage};
use cjaas_core::tape::{
    person_partition, Cursor, JourneyPage, JourneyQuery, Order, StoredEvent, TapeEntry,
};

use super::entry::{decode, decode_read, encode};
use super::steps::{step_key, StepRow};
use super::tape_fold::fold_partition;
use super::{expired, EmbeddedStore, CHANGES, COUNTS, DEDUP, STEPS, TAPE};

/// A page of a journey.
type Page = Result<JourneyPage, StoreError>;

impl EmbeddedStore {
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
                    let entry = decode(value.value())?;
                    if expired(entry.expires_at, now) {
                        let (pk, sk) = key.value();
                        gone.push((pk.to_owned(), sk.to_owned(), entry.dedup_key()));
                    }
                }
                let mut steps = txn.open_table(STEPS)?;
                for (pk, sk, mark) in &gone {
                    tape.remove((pk.as_str(), sk.as_str()))?;
                    marks.remove(mark.as_str())?;
                    let (time_us, hash) = step_key(sk)?;
                    steps.remove((pk.as_str(), time_us, hash))?;
                }
                gone.len() as u64
            };
            txn.commit()?;
            Ok(swept)
        })
        .await
    }
}

#[async_trait]
impl TapeStore for EmbeddedStore {
    /// One write transaction (and one fsync, unless deferred) for the whole batch.
    async fn append_batch(&self, entries: &[TapeEntry]) -> Vec<Result<AppendOutcome, StoreError>> {
        let rows: Vec<(String, String, String, String, String, String, StepRow)> = entries
            .iter()
            .map(|e| {
                let keys = e.keys();
                let step = StepRow::with_hash(e, &keys.hash);
                (
                    keys.partition,
                    keys.sort,
                    keys.dedup,
                    encode(e),
                    e.tenant.to_string(),
                    e.person.to_string(),
                    step,
                )
            })
            .collect();
        let count = rows.len();
        let defer_sync = self.defer_append_sync;
        let result = self
            .run(move |db| {
                let mut txn = db.begin_write()?;
                if defer_sync {
                    txn.set_durability(redb::Durability::None)?;
                }
                let mut outcomes = Vec::with_capacity(rows.len());
                {
                    let mut marks = txn.open_table(DEDUP)?;
                    let mut tape = txn.open_table(TAPE)?;
                    let mut counts = txn.open_table(COUNTS)?;
                    let mut changes = txn.open_table(CHANGES)?;
                    let mut steps = txn.open_table(STEPS)?;
                    let written = chrono::Utc::now().timestamp_micros();
                    // Each partition's counter and change mark are written once per
                    // batch, after its entries: the same rows as one write per entry.
                    let mut appended: HashMap<&str, (u64, &str, &str)> = HashMap::new();
                    for (pk, sk, dedup, json, tenant, person, step) in &rows {
                        if marks.get(dedup.as_str())?.is_some() {
                            outcomes.push(AppendOutcome::Duplicate);
                            continue;
                        }
                        marks.insert(dedup.as_str(), sk.as_str())?;
                        tape.insert((pk.as_str(), sk.as_str()), json.as_str())?;
                        steps.insert(
                            (pk.as_str(), step.time_us, step.hash),
                            step.value.as_slice(),
                        )?;
                        appended.entry(pk.as_str()).or_insert((0, tenant, person)).0 += 1;
                        outcomes.push(AppendOutcome::Appended);
                    }
                    for (pk, (new, tenant, person)) in appended {
                        let count = counts.get(pk)?.map_or(0, |c| c.value());
                        counts.insert(pk, count + new)?;
                        changes.insert((tenant, person), written)?;
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

    async fn query(&self, tenant: &TenantId, person: &PersonId, query: &JourneyQuery) -> Page {
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
                let entry = decode_read(value.value())?;
                let gone = expired(entry.expires_at, now);
                if gone || !query.matches(&entry.ty, &entry.source) {
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
                    ty: entry.ty.into_owned(),
                    expires_at: entry.expires_at,
                    event: entry.event.into_owned(),
                });
            }
            Ok(JourneyPage { events, next: None })
        })
        .await
    }

    /// One read transaction, the rows folded where they lie (`tape_fold`).
    async fn fold_tape(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        fold: TapeFold,
    ) -> Result<TapeFold, StoreError> {
        let pk = person_partition(tenant, person);
        let now = chrono::Utc::now().timestamp();
        self.run(move |db| fold_partition(db, &pk, now, fold)).await
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
                            Some(decode(value.value()).map(|e| (key.value().1.to_owned(), e)))
                        }
                        Ok(_) => None,
                        Err(e) => Some(Err(e.into())),
                    })
                    .collect::<Result<_, redb::Error>>()?;
                let mut steps = txn.open_table(STEPS)?;
                for (sk, entry) in &rows {
                    tape.remove((pk.as_str(), sk.as_str()))?;
                    marks.remove(entry.dedup_key().as_str())?;
                    let (time_us, hash) = step_key(sk)?;
                    steps.remove((pk.as_str(), time_us, hash))?;
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

    /// Reads the projection once every entry has one; decodes the entries until then.
    async fn steps(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        from: Option<chrono::DateTime<chrono::Utc>>,
        after: Option<String>,
    ) -> Result<StepPage, StoreError> {
        match self.read_steps(tenant, person, from, after.clone()).await? {
            Some(page) => Ok(page),
            None => steps_from_entries(self, tenant, person, from, after).await,
        }
    }

    /// Redb has no TTL: expired entries go at the maintenance sweep.
    async fn expire(&self, now: chrono::DateTime<chrono::Utc>) -> Result<u64, StoreError> {
        self.sweep_expired(now).await
    }

    /// One write transaction, whatever the budget.
    async fn backfill_projection(
        &self,
        _budget: Option<std::time::Duration>,
    ) -> Result<cjaas_core::projection::BackfillReport, StoreError> {
        let (scanned, written) = self.backfill_counted().await?;
        Ok(cjaas_core::projection::BackfillReport {
            entries_scanned: scanned,
            projections_written: written,
            complete: true,
        })
    }

    /// Reads the projection of a batch of persons in one transaction once every entry
    /// has one; person by person from the entries until then.
    async fn steps_of_persons(
        &self,
        tenant: &TenantId,
        persons: &[PersonId],
        from: Option<chrono::DateTime<chrono::Utc>>,
        max_steps: usize,
    ) -> Result<StepBatch, StoreError> {
        match (self.read_steps_of_persons(tenant, persons, from, max_steps)).await? {
            Some(batch) => Ok(batch),
            None => steps_of_persons_by_page(self, tenant, persons, from, max_steps).await,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use cjaas_core::envelope::StreamRecord;
    use cjaas_core::event::parse_structured;
    use cjaas_core::ports::EventStream;

    fn entry() -> TapeEntry {
        let body = br#"{"specversion":"1.0","id":"d-1","source":"/s","type":"t","person":"p","time":"2026-11-23T10:00:00Z"}"#;
        let now = chrono::Utc::now();
        let valid = parse_structured(body, now).unwrap();
        TapeEntry::new(TenantId::parse("acme").unwrap(), &valid, now)
    }

    #[tokio::test]
    async fn a_deferred_append_is_readable_at_once_and_durable_with_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let entry = entry();
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            let deferred = store.deferring_append_sync();
            let outcomes = deferred.append_batch(std::slice::from_ref(&entry)).await;
            assert_eq!(outcomes, vec![Ok(AppendOutcome::Appended)]);
            assert!(
                store.holds(&entry).await.unwrap(),
                "readable before any fsync"
            );
            // The poller's acknowledgement is a durable commit; so is a stream put.
            let record = StreamRecord {
                partition_key: "k".into(),
                data: b"{}".to_vec(),
            };
            store.put_records(&[record]).await.unwrap();
        }
        let reopened = EmbeddedStore::open(dir.path()).unwrap();
        assert!(reopened.holds(&entry).await.unwrap());
        assert_eq!(
            reopened.count(&entry.tenant, &entry.person).await.unwrap(),
            1
        );
    }

    /// A page cache far smaller than the Tape: every entry still reads back, after a
    /// rewrite into a fresh file (opened with the same cache) and after a reopen.
    #[tokio::test]
    async fn a_store_with_a_small_cache_reads_a_tape_larger_than_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_with_cache(dir.path(), 64 << 10).unwrap();
        let entries: Vec<TapeEntry> = (0..2_000)
            .map(|i| TapeEntry {
                id: format!("d-{i}"),
                event: entry().event.replace("d-1", &format!("d-{i}")),
                ..entry()
            })
            .collect();
        for chunk in entries.chunks(500) {
            let outcomes = store.append_batch(chunk).await;
            assert!(outcomes.iter().all(|o| o == &Ok(AppendOutcome::Appended)));
        }
        let (tenant, person) = (&entries[0].tenant, &entries[0].person);
        for rewritten in [false, true] {
            if rewritten {
                assert!(store.rewrite().await.unwrap());
            }
            assert_eq!(store.count(tenant, person).await.unwrap(), 2_000);
            for entry in &entries {
                assert!(store.holds(entry).await.unwrap(), "{} lost", entry.id);
            }
        }
        drop(store);
        let reopened = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(reopened.count(tenant, person).await.unwrap(), 2_000);
        assert!(reopened.holds(&entries[1_999]).await.unwrap());
    }

    /// A row as the store wrote it before session 21: the entry as JSON, its event a
    /// JSON string. Journey reads, erasure and the projection's backfill still read it.
    #[tokio::test]
    async fn an_entry_in_the_old_stored_form_still_reads_and_erases() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let old = entry();
        let new = TapeEntry {
            id: "d-2".into(),
            event: old.event.replace("d-1", "d-2"),
            ..entry()
        };
        store.append_batch(std::slice::from_ref(&new)).await;
        let (keys, row) = (old.keys(), serde_json::to_string(&old).unwrap());
        store
            .run(move |db| {
                let txn = db.begin_write()?;
                txn.open_table(TAPE)?
                    .insert((keys.partition.as_str(), keys.sort.as_str()), row.as_str())?;
                txn.open_table(DEDUP)?
                    .insert(keys.dedup.as_str(), keys.sort.as_str())?;
                txn.open_table(COUNTS)?.insert(keys.partition.as_str(), 2)?;
                txn.commit()?;
                Ok(())
            })
            .await
            .unwrap();
        let page = store
            .query(&old.tenant, &old.person, &JourneyQuery::default())
            .await
            .unwrap();
        let mut events: Vec<&str> = page.events.iter().map(|e| e.event.as_str()).collect();
        events.sort();
        let mut expected = vec![old.event.as_str(), new.event.as_str()];
        expected.sort();
        assert_eq!(events, expected);
        assert!(page.events.iter().all(|e| e.ty == "t"));
        store.drop_steps_for_migration_test().await.unwrap();
        assert_eq!(store.backfill_steps().await.unwrap(), 2);
        assert_eq!(store.erase(&old.tenant, &old.person).await.unwrap(), 2);
        assert!(!store.holds(&old).await.unwrap());
    }
}
