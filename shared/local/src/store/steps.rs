//! The Tape's lean projection on redb (`cjaas_core::projection`): one row per entry in
//! [`STEPS`], written, expired and erased in the entry's own transactions, and the
//! backfill that gives entries written before the projection existed theirs.

use redb::{ReadableDatabase, ReadableTable};
use std::ops::Bound;

use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::StoreError;
use cjaas_core::projection::{
    decode_step, decode_step_type, encode_step, hash_number, sort_key_of_step,
    step_key_of_sort_key, LeanStep, StepBatch, StepPage, TapeStep, STEP_PAGE,
};
use cjaas_core::tape::{person_partition, TapeEntry};

use super::entry::decode;
use super::step_key::{StepKeyBytes, STEPS_BY_BYTES};
use super::{expired, EmbeddedStore, META, STEPS, STEPS_META, TAPE};

/// A step row's key parts and value, made outside the write transaction.
pub(super) struct StepRow {
    pub time_us: i64,
    pub hash: u128,
    pub value: Vec<u8>,
}

impl StepRow {
    pub fn of(entry: &TapeEntry) -> Self {
        Self::with_hash(entry, &entry.event_hash())
    }

    /// [`StepRow::of`], given the entry's event hash.
    pub fn with_hash(entry: &TapeEntry, event_hash: &str) -> Self {
        Self {
            time_us: entry.time.timestamp_micros(),
            hash: hash_number(event_hash).expect("event hashes are 32 hex digits"),
            value: encode_step(&entry.ty, &entry.source, entry.expires_at),
        }
    }
}

/// A read of [`STEPS`] in key order, partitions as bytes.
type Rows<'t> = std::iter::Peekable<redb::Range<'t, StepKeyBytes, &'static [u8]>>;

/// Whether the next row of `rows` is the first of partition `pk` from `from_us` on.
fn begins(rows: &mut Rows<'_>, pk: &[u8], from_us: i64) -> bool {
    rows.peek().is_some_and(|row| {
        row.as_ref().is_ok_and(|(key, _)| {
            let (row_pk, time_us, _) = key.value();
            row_pk == pk && time_us >= from_us
        })
    })
}

fn corrupted(what: &str) -> redb::Error {
    redb::Error::Corrupted(format!("unreadable tape step: {what}"))
}

/// Whether every entry has its step row (a fresh store, or after [`backfill_steps`]).
fn complete(txn: &redb::ReadTransaction) -> Result<bool, redb::Error> {
    Ok(txn.open_table(META)?.get(STEPS_META)?.is_some())
}

/// The step key of a Tape row's sort key.
pub(super) fn step_key(sk: &str) -> Result<(i64, u128), redb::Error> {
    step_key_of_sort_key(sk).ok_or_else(|| corrupted(sk))
}

impl EmbeddedStore {
    /// Reads one page of steps from the projection, or `None` while the store still
    /// holds entries without one (the caller decodes the entries instead).
    pub(super) async fn read_steps(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        from: Option<chrono::DateTime<chrono::Utc>>,
        after: Option<String>,
    ) -> Result<Option<StepPage>, StoreError> {
        let pk = person_partition(tenant, person);
        let now = chrono::Utc::now().timestamp();
        let low =
            match &after {
                Some(sk) => Some(step_key_of_sort_key(sk).ok_or_else(|| {
                    StoreError::Rejected(format!("{sk:?} is not an entry sort key"))
                })?),
                None => None,
            };
        let from_us = from.map_or(i64::MIN, |t| t.timestamp_micros());
        self.run(move |db| {
            let txn = db.begin_read()?;
            if !complete(&txn)? {
                return Ok(None);
            }
            let table = txn.open_table(STEPS)?;
            let lower = match low {
                Some((t, h)) if t >= from_us => Bound::Excluded((pk.as_str(), t, h)),
                _ => Bound::Included((pk.as_str(), from_us, 0)),
            };
            let upper = Bound::Included((pk.as_str(), i64::MAX, u128::MAX));
            let mut page = StepPage::default();
            let mut last = None;
            for row in table.range::<(&str, i64, u128)>((lower, upper))? {
                let (key, value) = row?;
                let (_, time_us, hash) = key.value();
                if page.steps.len() == STEP_PAGE {
                    let (t, h) = last.expect("a full page has a last step");
                    page.next = Some(sort_key_of_step(t, h).ok_or_else(|| corrupted("time"))?);
                    break;
                }
                last = Some((time_us, hash));
                let step = decode_step(value.value()).ok_or_else(|| corrupted("value"))?;
                if expired(step.expires_at, now) {
                    continue;
                }
                page.steps.push(TapeStep {
                    time: chrono::DateTime::from_timestamp_micros(time_us)
                        .ok_or_else(|| corrupted("time"))?,
                    ty: step.ty.to_owned(),
                    source: step.source.to_owned(),
                    expires_at: step.expires_at,
                });
            }
            Ok(Some(page))
        })
        .await
    }

    /// The steps of the first persons of `persons` from the projection, in one read
    /// transaction, or `None` while the store still holds entries without one.
    pub(super) async fn read_steps_of_persons(
        &self,
        tenant: &TenantId,
        persons: &[PersonId],
        from: Option<chrono::DateTime<chrono::Utc>>,
        max_steps: usize,
    ) -> Result<Option<StepBatch>, StoreError> {
        let partitions: Vec<String> = (persons.iter())
            .map(|p| person_partition(tenant, p))
            .collect();
        let now = chrono::Utc::now().timestamp();
        let from_us = from.map_or(i64::MIN, |t| t.timestamp_micros());
        self.run(move |db| {
            let txn = db.begin_read()?;
            if !complete(&txn)? {
                return Ok(None);
            }
            let table = txn.open_table(STEPS_BY_BYTES)?;
            let mut batch = StepBatch::default();
            let (mut held, max_steps) = (0, max_steps.max(1));
            let mut rows: Option<Rows<'_>> = None;
            for pk in partitions.iter().map(String::as_bytes) {
                // When this person's rows come right after the previous person's, the
                // same range reads on: one B-tree descent for a run of persons.
                if !rows.as_mut().is_some_and(|r| begins(r, pk, from_us)) {
                    rows = Some(table.range((pk, from_us, 0)..)?.peekable());
                }
                let rows = rows.as_mut().expect("a range is open");
                let (mut steps, mut last) = (Vec::with_capacity(32), None);
                // Each row's key is decoded once: peeked, then taken if it is this person's.
                while let Some(row) = rows.peek() {
                    let (time_us, hash) = match row {
                        Ok((key, _)) => match key.value() {
                            (row_pk, t, h) if row_pk == pk => (t, h),
                            _ => break,
                        },
                        Err(_) => {
                            return Err(rows
                                .next()
                                .expect("peeked")
                                .err()
                                .expect("an error")
                                .into())
                        }
                    };
                    if held == max_steps {
                        // A new person is never begun at the limit: `last` is set.
                        let (t, h) = last.ok_or_else(|| corrupted("cut"))?;
                        batch.next = Some(sort_key_of_step(t, h).ok_or_else(|| corrupted("time"))?);
                        break;
                    }
                    let (_, value) = rows.next().expect("peeked")?;
                    last = Some((time_us, hash));
                    let (ty, expires_at) =
                        decode_step_type(value.value()).ok_or_else(|| corrupted("value"))?;
                    if expired(expires_at, now) {
                        continue;
                    }
                    let time = chrono::DateTime::from_timestamp_micros(time_us)
                        .ok_or_else(|| corrupted("time"))?;
                    let ty = batch
                        .types
                        .id_of_bytes(ty)
                        .ok_or_else(|| corrupted("type"))?;
                    steps.push(LeanStep {
                        time,
                        ty,
                        expires_at,
                    });
                    held += 1;
                }
                batch.persons.push(steps);
                if batch.next.is_some() || held >= max_steps {
                    break;
                }
            }
            Ok(Some(batch))
        })
        .await
    }

    /// The operator's backfill: writes the step row of every entry that has none, then
    /// marks the projection complete, in one write transaction (appends wait for it).
    /// Returns the rows written. Safe to run again: it writes nothing the second time.
    pub async fn backfill_steps(&self) -> Result<u64, StoreError> {
        Ok(self.backfill_counted().await?.1)
    }

    /// [`Self::backfill_steps`]: the entries scanned and the rows written.
    pub(super) async fn backfill_counted(&self) -> Result<(u64, u64), StoreError> {
        self.run(|db| {
            let txn = db.begin_write()?;
            let (scanned, written) = {
                let tape = txn.open_table(TAPE)?;
                let mut steps = txn.open_table(STEPS)?;
                let (mut scanned, mut written) = (0, 0);
                for row in tape.iter()? {
                    let (key, value) = row?;
                    scanned += 1;
                    let (pk, sk) = key.value();
                    let (time_us, hash) = step_key(sk)?;
                    if steps.get((pk, time_us, hash))?.is_some() {
                        continue;
                    }
                    let entry = decode(value.value())?;
                    let row = StepRow::of(&entry);
                    steps.insert((pk, time_us, hash), row.value.as_slice())?;
                    written += 1;
                }
                txn.open_table(META)?.insert(STEPS_META, "complete")?;
                (scanned, written)
            };
            txn.commit()?;
            tracing::info!(scanned, written, "tape projection backfilled");
            Ok((scanned, written))
        })
        .await
    }

    /// Test and migration aid: forgets that the projection is complete and drops every
    /// step row, as a store written before the projection existed looks.
    pub async fn drop_steps_for_migration_test(&self) -> Result<(), StoreError> {
        self.run(|db| {
            let txn = db.begin_write()?;
            txn.delete_table(STEPS)?;
            txn.open_table(STEPS)?;
            txn.open_table(META)?.remove(STEPS_META)?;
            txn.commit()?;
            Ok(())
        })
        .await
    }
}
