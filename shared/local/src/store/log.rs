//! The local stream (standing in for Kinesis) and the live log, on redb. Both number
//! their records from counters kept in the `meta` table, so a position is never used
//! twice: not when the stream drains, not when rows are removed, not across restarts.
//! Archive objects are named after stream positions, so this keeps them from
//! overwriting each other.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};
use std::collections::BTreeSet;

use cjaas_core::envelope::{RecordEnvelope, StreamRecord};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{EventLog, EventStream, StoreError};

use super::{EmbeddedStore, LIVE, META, STREAM};

/// The next position of the local stream.
pub(super) const STREAM_NEXT: &str = "stream_next";
/// The next position of the live log.
const LIVE_NEXT: &str = "live_next";

/// A live row: (tenant, person, type, source, CloudEvent JSON).
pub type LiveRow = (String, String, String, String, String);

/// The counter `name`, but never below `floor` (a store made before the counter was).
pub(super) fn next_position(
    meta: &impl ReadableTable<&'static str, &'static str>,
    name: &str,
    floor: u64,
) -> Result<u64, redb::Error> {
    let stored = meta
        .get(name)?
        .map(|v| v.value().parse::<u64>())
        .transpose()
        .map_err(|e| redb::Error::Corrupted(format!("{name}: {e}")))?;
    Ok(stored.unwrap_or(0).max(floor))
}

/// Whether a stream record is the tenant's and names one of `ids` as its person. A
/// record too broken to parse counts if it carries the tenant and an id as JSON strings.
fn names_any(data: &[u8], tenant: &str, ids: &BTreeSet<String>) -> bool {
    let parsed = RecordEnvelope::parse(data).ok().map(|envelope| {
        let person = serde_json::from_str::<serde_json::Value>(envelope.event.get())
            .ok()
            .and_then(|e| e.get("person")?.as_str().map(str::to_owned));
        (envelope.tenant, person)
    });
    match parsed {
        Some((record_tenant, person)) => {
            record_tenant.as_deref() == Some(tenant) && person.is_some_and(|p| ids.contains(&p))
        }
        None => {
            let text = String::from_utf8_lossy(data);
            text.contains(&format!("\"{tenant}\""))
                && ids.iter().any(|id| text.contains(&format!("\"{id}\"")))
        }
    }
}

/// Appends `entries` to the live log in `txn`. Keeps the newest `keep` rows.
fn append_live(txn: &WriteTransaction, entries: &[LiveRow], keep: u64) -> Result<(), redb::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut meta = txn.open_table(META)?;
    let mut live = txn.open_table(LIVE)?;
    let floor = live.last()?.map_or(1, |(seq, _)| seq.value() + 1);
    let first = next_position(&meta, LIVE_NEXT, floor)?;
    for (seq, (t, p, ty, src, event)) in (first..).zip(entries) {
        let row = (
            t.as_str(),
            p.as_str(),
            ty.as_str(),
            src.as_str(),
            event.as_str(),
        );
        live.insert(seq, row)?;
    }
    let next = first + entries.len() as u64;
    meta.insert(LIVE_NEXT, next.to_string().as_str())?;
    if next > keep + 1 {
        live.retain_in(..next - keep, |_, _| false)?;
    }
    Ok(())
}

impl EmbeddedStore {
    /// The newest position the live feed has given out (0 before the first), whether
    /// or not its row is still kept.
    pub async fn live_last(&self) -> Result<u64, StoreError> {
        self.run(|db| {
            let txn = db.begin_read()?;
            let live = txn.open_table(LIVE)?;
            let floor = live.last()?.map_or(1, |(seq, _)| seq.value() + 1);
            let next = next_position(&txn.open_table(META)?, LIVE_NEXT, floor)?;
            Ok(next - 1)
        })
        .await
    }

    /// The tenant's live events after `after`, up to `limit`, as (position, person,
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

    /// The oldest records on the local stream, up to `max`.
    pub async fn read_stream(&self, max: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.read_stream_after(None, max).await
    }

    /// The oldest records on the local stream after position `after` (all of them
    /// without it), up to `max`.
    pub async fn read_stream_after(
        &self,
        after: Option<u64>,
        max: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let from = after.map_or(0, |seq| seq + 1);
        self.run(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(STREAM)?;
            table
                .range(from..)?
                .take(max)
                .map(|row| {
                    let (seq, data) = row?;
                    Ok((seq.value(), data.value().to_vec()))
                })
                .collect()
        })
        .await
    }

    /// Appends newly written events to the live log, keeping its newest `keep` rows.
    /// The commit is not fsync'd on its own: redb applies commits in order, so it is
    /// durable with the acknowledgement that follows it ([`Self::ack_stream`]), like
    /// the Tape appends before it; a crash before that loses both, and the records,
    /// not acknowledged, are read again and appended anew.
    pub async fn live_append(&self, entries: Vec<LiveRow>, keep: u64) -> Result<(), StoreError> {
        self.run(move |db| {
            let mut txn = db.begin_write()?;
            txn.set_durability(redb::Durability::None)?;
            append_live(&txn, &entries, keep)?;
            Ok(txn.commit()?)
        })
        .await
    }

    /// Removes consumed records from the local stream, in a durable commit: in one
    /// pass over their range (a drain's records are one run of positions), which
    /// rebuilds each page once instead of once per record.
    pub async fn ack_stream(&self, mut seqs: Vec<u64>) -> Result<(), StoreError> {
        seqs.sort_unstable();
        self.run(move |db| {
            let txn = db.begin_write()?;
            if let (Some(&first), Some(&last)) = (seqs.first(), seqs.last()) {
                let mut table = txn.open_table(STREAM)?;
                table.retain_in(first..=last, |seq, _| seqs.binary_search(&seq).is_err())?;
            }
            Ok(txn.commit()?)
        })
        .await
    }
}

#[async_trait]
impl EventStream for EmbeddedStore {
    /// Durable on return; concurrent puts share one commit (see `group`).
    async fn put_records(&self, records: &[StreamRecord]) -> Result<Vec<usize>, StoreError> {
        let data: Vec<Vec<u8>> = records.iter().map(|r| r.data.clone()).collect();
        self.put_stream(data).await?;
        Ok(Vec::new())
    }
}

#[async_trait]
impl EventLog for EmbeddedStore {
    /// Waits for the batch in flight (so none lands after), then removes the ids'
    /// records still on the local stream and their rows of the live log.
    async fn erase(&self, tenant: &TenantId, ids: &[PersonId]) -> Result<u64, StoreError> {
        let _drain = self.drain_guard().await;
        let tenant = tenant.to_string();
        let ids: BTreeSet<String> = ids.iter().map(|p| p.to_string()).collect();
        let removed = self
            .run(move |db| {
                let txn = db.begin_write()?;
                let removed = {
                    let mut stream = txn.open_table(STREAM)?;
                    let mut gone = Vec::new();
                    for row in stream.iter()? {
                        let (seq, data) = row?;
                        if names_any(data.value(), &tenant, &ids) {
                            gone.push(seq.value());
                        }
                    }
                    for seq in &gone {
                        stream.remove(seq)?;
                    }
                    let mut live = txn.open_table(LIVE)?;
                    let before = live.len()?;
                    live.retain(|_, (t, p, ..)| t != tenant || !ids.contains(p))?;
                    gone.len() as u64 + before - live.len()?
                };
                txn.commit()?;
                Ok(removed)
            })
            .await;
        self.erasures
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        removed
    }

    async fn purge(&self) -> Result<bool, StoreError> {
        self.rewrite().await
    }
}
