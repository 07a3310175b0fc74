//! The Tape's lean projection on DynamoDB (`cjaas_core::projection`): a small sibling
//! item per entry, `{pk, sk: S#{time}#{hash}, ty, src, expires_at}`, put in the entry's
//! own `TransactWriteItems`. It lives in the entry's partition, so erasure (which
//! deletes the whole partition) and TTL (`expires_at`) take it with the entry.
//!
//! A Query is charged by the size of the items it reads, not of the attributes it
//! returns, so analytics reads these ~110-byte items instead of the ~1 KiB entries.
//!
//! Tables written before the projection existed are migrated by the operator backfill
//! ([`DynamoTapeStore::backfill_steps`], run through the maintenance function). Until
//! it has finished once, reads decode the full entries.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use cjaas_core::fold::time_of_sort_key;
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::StoreError;
use cjaas_core::projection::{StepPage, TapeStep, STEP_PAGE};
use cjaas_core::tape::{person_partition, time_key, TapeEntry};

use crate::dynamo_tape::DynamoTapeStore;
use crate::store_error;

/// The migration marker: `{pk: TAPE#PROJECTION, sk: M, complete, resume_pk, resume_sk}`.
const MARKER_PK: &str = "TAPE#PROJECTION";
const MARKER_SK: &str = "M";
/// Entries migrated at once by the backfill.
const BACKFILL_CONCURRENCY: usize = 16;

/// Whether this process has seen the marker complete (it never goes back).
pub(crate) struct Completion(AtomicBool);

impl Completion {
    pub fn new() -> Self {
        Self(AtomicBool::new(false))
    }
}

#[derive(Serialize, Deserialize)]
struct StepItem {
    pk: String,
    sk: String,
    ty: String,
    src: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// The step sort key of an entry sort key (`E#…` → `S#…`), and back.
fn step_sk(entry_sk: &str) -> Option<String> {
    entry_sk.strip_prefix("E#").map(|rest| format!("S#{rest}"))
}

fn entry_sk(step_sk: &str) -> Option<String> {
    step_sk.strip_prefix("S#").map(|rest| format!("E#{rest}"))
}

/// What the backfill reads of each entry.
#[derive(Deserialize)]
struct EntryHead {
    pk: String,
    sk: String,
    #[serde(rename = "type")]
    ty: String,
    source: String,
    expires_at: Option<i64>,
}

pub use cjaas_core::projection::BackfillReport;

fn item(value: &impl Serialize) -> Result<HashMap<String, AttributeValue>, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Rejected(e.to_string()))
}

impl DynamoTapeStore {
    /// The step item of an entry, for its append transaction.
    pub(crate) fn step_put(&self, entry: &TapeEntry) -> Result<TransactWriteItem, StoreError> {
        let step = StepItem {
            pk: entry.partition_key(),
            sk: step_sk(&entry.sort_key()).expect("entry sort keys start with E#"),
            ty: entry.ty.clone(),
            src: entry.source.clone(),
            expires_at: entry.expires_at,
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item(&step)?))
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn marker(&self) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(MARKER_PK.into()))
            .key("sk", AttributeValue::S(MARKER_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(output.item)
    }

    /// Whether every entry has its step item; read once per process once true.
    pub(crate) async fn steps_complete(&self) -> Result<bool, StoreError> {
        if self.steps_complete.0.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let done = self
            .marker()
            .await?
            .is_some_and(|m| m.get("complete") == Some(&AttributeValue::Bool(true)));
        self.steps_complete.0.store(done, Ordering::Relaxed);
        Ok(done)
    }

    /// One page of step items, oldest first, expired ones left out.
    pub(crate) async fn read_steps(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        from: Option<DateTime<Utc>>,
        after: Option<String>,
    ) -> Result<StepPage, StoreError> {
        let pk = person_partition(tenant, person);
        let lower = from.map_or_else(|| "S#".to_owned(), |t| format!("S#{}", time_key(t)));
        let start = match after.as_deref().map(step_sk) {
            Some(Some(sk)) if sk >= lower => Some(HashMap::from([
                ("pk".to_owned(), AttributeValue::S(pk.clone())),
                ("sk".to_owned(), AttributeValue::S(sk)),
            ])),
            Some(None) => {
                return Err(StoreError::Rejected(format!(
                    "{after:?} is not an entry sort key"
                )))
            }
            _ => None,
        };
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lower AND :upper")
            .filter_expression("attribute_not_exists(expires_at) OR expires_at > :now")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":lower", AttributeValue::S(lower))
            .expression_attribute_values(":upper", AttributeValue::S("S$".into()))
            .expression_attribute_values(
                ":now",
                AttributeValue::N(Utc::now().timestamp().to_string()),
            )
            .set_exclusive_start_key(start)
            .limit(STEP_PAGE as i32)
            .send()
            .await
            .map_err(store_error)?;
        let items: Vec<StepItem> = serde_dynamo::from_items(output.items().to_vec())
            .map_err(|e| StoreError::Transient(format!("unreadable tape step: {e}")))?;
        let mut page = StepPage::default();
        for step in items {
            let time = entry_sk(&step.sk).as_deref().and_then(time_of_sort_key);
            let Some(time) = time else { continue };
            page.steps.push(TapeStep {
                time,
                ty: step.ty,
                source: step.src,
                expires_at: step.expires_at,
            });
        }
        page.next = output
            .last_evaluated_key()
            .and_then(|key| match key.get("sk") {
                Some(AttributeValue::S(sk)) => entry_sk(sk),
                _ => None,
            });
        Ok(page)
    }

    /// Writes one entry's step item if the entry is still there and has none: a
    /// transaction, so an erasure running meanwhile never leaves a step behind.
    async fn backfill_one(&self, head: EntryHead) -> Result<bool, StoreError> {
        let step = StepItem {
            sk: step_sk(&head.sk).expect("scanned for E# keys"),
            pk: head.pk.clone(),
            ty: head.ty,
            src: head.source,
            expires_at: head.expires_at,
        };
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(head.pk))
            .key("sk", AttributeValue::S(head.sk))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item(&step)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(check).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if crate::dynamo_tape::is_cancelled_by_condition(&e) => Ok(false),
            Err(e) => Err(store_error(e)),
        }
    }

    /// The operator's backfill: scans the table for entries, gives each that has none
    /// its step item, and records where it got to in the marker after every page, so
    /// an invocation that runs out of time resumes where the last one stopped. Stops
    /// after `budget`; once a scan reaches the end, marks the projection complete.
    pub async fn backfill_steps(
        &self,
        budget: Option<std::time::Duration>,
    ) -> Result<BackfillReport, StoreError> {
        let started = std::time::Instant::now();
        let mut report = BackfillReport::default();
        let marker = self.marker().await?.unwrap_or_default();
        if marker.get("complete") == Some(&AttributeValue::Bool(true)) {
            report.complete = true;
            return Ok(report);
        }
        let mut start = match (marker.get("resume_pk"), marker.get("resume_sk")) {
            (Some(pk), Some(sk)) => Some(HashMap::from([
                ("pk".to_owned(), pk.clone()),
                ("sk".to_owned(), sk.clone()),
            ])),
            _ => None,
        };
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(sk, :e)")
                .projection_expression("pk, sk, #type, #source, expires_at")
                .expression_attribute_names("#type", "type")
                .expression_attribute_names("#source", "source")
                .expression_attribute_values(":e", AttributeValue::S("E#".into()))
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .send()
                .await
                .map_err(store_error)?;
            let heads: Vec<EntryHead> = serde_dynamo::from_items(output.items().to_vec())
                .map_err(|e| StoreError::Transient(format!("unreadable tape item: {e}")))?;
            report.entries_scanned += heads.len() as u64;
            let written: Vec<Result<bool, StoreError>> = stream::iter(heads)
                .map(|head| self.backfill_one(head))
                .buffer_unordered(BACKFILL_CONCURRENCY)
                .collect()
                .await;
            for outcome in written {
                report.projections_written += u64::from(outcome?);
            }
            start = output.last_evaluated_key().cloned();
            self.save_marker(start.as_ref()).await?;
            if start.is_none() {
                report.complete = true;
                self.steps_complete.0.store(true, Ordering::Relaxed);
                break;
            }
            if budget.is_some_and(|budget| started.elapsed() >= budget) {
                break;
            }
        }
        tracing::info!(?report, "tape projection backfill");
        Ok(report)
    }

    async fn save_marker(
        &self,
        resume: Option<&HashMap<String, AttributeValue>>,
    ) -> Result<(), StoreError> {
        let mut marker = HashMap::from([
            ("pk".to_owned(), AttributeValue::S(MARKER_PK.into())),
            ("sk".to_owned(), AttributeValue::S(MARKER_SK.into())),
            (
                "complete".to_owned(),
                AttributeValue::Bool(resume.is_none()),
            ),
        ]);
        if let Some(key) = resume {
            for (name, attr) in [("pk", "resume_pk"), ("sk", "resume_sk")] {
                if let Some(value) = key.get(name) {
                    marker.insert(attr.to_owned(), value.clone());
                }
            }
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(marker))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

/// DynamoDB's item size: attribute names plus values (numbers about one byte per two
/// digits plus one). What read units are charged on.
#[cfg(test)]
pub(crate) fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(s) => s.len(),
                    AttributeValue::N(n) => n.len().div_ceil(2) + 1,
                    AttributeValue::Bool(_) => 1,
                    other => panic!("not sized here: {other:?}"),
                }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cjaas_core::ids::{PersonId, TenantId};

    /// The entry and step items of one event shaped like `scripts/bench-analytics`'s
    /// and of a typical 1 KiB CloudEvent, and what a 1M-event analytics pass reads.
    #[test]
    fn step_items_are_small_and_what_a_pass_reads_is_known() {
        let time: DateTime<Utc> = "2026-11-20T10:11:12.345678Z".parse().unwrap();
        let entry = |data: &str| {
            let event = format!(
                r#"{{"specversion":"1.0","id":"e123456","source":"/bench","type":"checkout.started","person":"person-012345","time":"{time}","data":{data}}}"#
            );
            TapeEntry {
                tenant: TenantId::parse("bench").unwrap(),
                person: PersonId::parse("person-012345").unwrap(),
                time,
                received_at: time,
                ty: "checkout.started".into(),
                source: "/bench".into(),
                id: "e123456".into(),
                expires_at: None,
                event,
            }
        };
        let sizes = |entry: &TapeEntry| {
            let whole = serde_json::json!({"pk": entry.partition_key(), "sk": entry.sort_key(), "entry": entry});
            let mut whole = item(&whole).unwrap();
            let flat = whole.remove("entry").unwrap();
            whole.extend(flat.as_m().unwrap().clone());
            let step = StepItem {
                pk: entry.partition_key(),
                sk: step_sk(&entry.sort_key()).unwrap(),
                ty: entry.ty.clone(),
                src: entry.source.clone(),
                expires_at: None,
            };
            (item_size(&whole), item_size(&item(&step).unwrap()))
        };
        let (bench_entry, bench_step) = sizes(&entry(r#"{"path":"/p"}"#));
        let padding = "x".repeat(700);
        let (kib_entry, kib_step) = sizes(&entry(&format!(r#"{{"blob":"{padding}"}}"#)));
        println!("bench-shaped: entry {bench_entry} B, step {bench_step} B; 1 KiB event: entry {kib_entry} B, step {kib_step} B");
        assert!(
            bench_step <= 120 && kib_step == bench_step,
            "{bench_step} {kib_step}"
        );
        assert!(kib_entry > 1000);
        // 50,000 persons × 20 events, one eventually consistent Query per person
        // (0.5 units per started 4 KB).
        let units = |item: usize| 50_000.0 * (20 * item).div_ceil(4096) as f64 * 0.5;
        println!(
            "read units per 1M events (50k persons): steps {}, full entries: bench-shaped {}, 1 KiB {}",
            units(bench_step),
            units(bench_entry),
            units(kib_entry)
        );
        assert_eq!(units(bench_step), 25_000.0);
    }
}
