//! The Tape on DynamoDB (key design in `cjaas_core::tape`).
//!
//! An append is one transaction: the dedup mark, conditional on its absence, the
//! entry, its lean projection (`dynamo_steps`), and an increment of the person's entry counter (which lets profile reads
//! tell whether late events arrived since their snapshot). A redelivered or resent
//! event fails the condition, so the Tape keeps exactly one copy per (tenant, source,
//! id).

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, Put, TransactWriteItem, Update, WriteRequest,
};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{AppendOutcome, StoreError, TapeStore};
use cjaas_core::projection::{steps_from_entries, StepPage};
use cjaas_core::tape::{
    person_partition, time_key, Cursor, JourneyPage, JourneyQuery, Order, StoredEvent, TapeEntry,
};

use crate::store_error;

mod filter;
use filter::filter_expression;

/// DynamoDB reads at most 1 MB per request; filtered pages ask for this many items.
const FILTERED_PAGE_ITEMS: i32 = 500;

/// Persons written at once. Order does not matter: the Tape sorts by event time, and
/// the dedup mark settles races between copies of one event.
const CONCURRENCY: usize = 16;

/// The per-person counter item: `{pk: T#…#P#…, sk: M, entries: N, ct, cm}`. `M` sorts
/// after every entry key (`E#…`), so journey ranges never see it. `ct` (`T#{tenant}`)
/// and `cm` (`{last write time}#{person}`) key the sparse `changes` index, the change
/// feed that incremental analytics reads.
const COUNTER_SK: &str = "M";

/// The sparse index over counter items: who was written to, and when.
pub const CHANGES_INDEX: &str = "changes";

pub struct DynamoTapeStore {
    pub(crate) client: aws_sdk_dynamodb::Client,
    pub(crate) table: String,
    pub(crate) steps_complete: crate::dynamo_steps::Completion,
}

/// A Tape entry as a DynamoDB item.
#[derive(Serialize, Deserialize)]
struct EntryItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    entry: TapeEntry,
}

/// The dedup mark: which entry holds this (tenant, source, id). It expires with it.
#[derive(Serialize)]
struct DedupItem<'a> {
    pk: String,
    sk: &'static str,
    person: &'a str,
    entry_sk: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// What erasure reads of each item of a person's partition.
#[derive(Deserialize)]
struct ErasableItem {
    sk: String,
    source: Option<String>,
    id: Option<String>,
}

/// What a journey page reads back.
#[derive(Deserialize)]
struct PageItem {
    sk: String,
    #[serde(rename = "type")]
    ty: String,
    event: String,
    expires_at: Option<i64>,
}

fn to_item(value: &impl Serialize) -> Result<HashMap<String, AttributeValue>, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Rejected(e.to_string()))
}

/// A transaction cancelled because one of its conditions failed.
pub(crate) fn is_cancelled_by_condition(
    error: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>,
) -> bool {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    else {
        return false;
    };
    cancelled
        .cancellation_reasons()
        .iter()
        .any(|reason| reason.code() == Some("ConditionalCheckFailed"))
}

/// A cancelled transaction whose first item failed its condition is a duplicate.
fn is_duplicate(error: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>) -> bool {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    else {
        return false;
    };
    cancelled
        .cancellation_reasons()
        .first()
        .and_then(|reason| reason.code())
        == Some("ConditionalCheckFailed")
}

impl DynamoTapeStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> Self {
        Self {
            client,
            table,
            steps_complete: crate::dynamo_steps::Completion::new(),
        }
    }

    fn put(
        &self,
        item: HashMap<String, AttributeValue>,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn count_one(&self, entry: &TapeEntry, pk: &str) -> Result<TransactWriteItem, StoreError> {
        let mark = format!("{}#{}", time_key(Utc::now()), entry.person);
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(COUNTER_SK.to_owned()))
            .update_expression("ADD entries :one SET ct = :tenant, cm = :mark")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(
                ":tenant",
                AttributeValue::S(format!("T#{}", entry.tenant)),
            )
            .expression_attribute_values(":mark", AttributeValue::S(mark))
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Deletes up to 25 items, resending what DynamoDB leaves unprocessed.
    async fn delete_batch(&self, keys: &[(String, String)]) -> Result<(), StoreError> {
        let mut requests: Vec<WriteRequest> = keys
            .iter()
            .map(|(pk, sk)| {
                let delete = DeleteRequest::builder()
                    .key("pk", AttributeValue::S(pk.clone()))
                    .key("sk", AttributeValue::S(sk.clone()))
                    .build()
                    .expect("keys are set");
                WriteRequest::builder().delete_request(delete).build()
            })
            .collect();
        for attempt in 0..8u32 {
            if requests.is_empty() {
                return Ok(());
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(store_error)?;
            requests = output
                .unprocessed_items
                .and_then(|mut left| left.remove(&self.table))
                .unwrap_or_default();
        }
        Err(StoreError::Transient("deletes left unprocessed".into()))
    }

    async fn append(&self, entry: &TapeEntry) -> Result<AppendOutcome, StoreError> {
        let sk = entry.sort_key();
        let mark = DedupItem {
            pk: entry.dedup_key(),
            sk: "D",
            person: entry.person.as_str(),
            entry_sk: &sk,
            expires_at: entry.expires_at,
        };
        let item = EntryItem {
            pk: entry.partition_key(),
            sk: sk.clone(),
            entry: entry.clone(),
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put(to_item(&mark)?, Some("attribute_not_exists(pk)"))?)
            .transact_items(self.put(to_item(&item)?, None)?)
            .transact_items(self.count_one(entry, &item.pk)?)
            .transact_items(self.step_put(entry)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(AppendOutcome::Appended),
            Err(e) if is_duplicate(&e) => Ok(AppendOutcome::Duplicate),
            Err(e) => Err(store_error(e)),
        }
    }
}

#[async_trait]
impl TapeStore for DynamoTapeStore {
    /// Persons are written in parallel, each person's entries one after another: every
    /// append of a person updates that person's counter item, and concurrent
    /// transactions on one item would cancel each other (`TransactionConflict`).
    async fn append_batch(&self, entries: &[TapeEntry]) -> Vec<Result<AppendOutcome, StoreError>> {
        let mut by_person: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, entry) in entries.iter().enumerate() {
            by_person.entry(entry.partition_key()).or_default().push(i);
        }
        let persons: Vec<_> = by_person
            .into_values()
            .map(|indices| async move {
                let mut done = Vec::with_capacity(indices.len());
                for i in indices {
                    done.push((i, self.append(&entries[i]).await));
                }
                done
            })
            .collect();
        let mut outcomes: Vec<Option<Result<AppendOutcome, StoreError>>> =
            vec![None; entries.len()];
        let finished: Vec<_> = stream::iter(persons)
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (i, outcome) in finished.into_iter().flatten() {
            outcomes[i] = Some(outcome);
        }
        outcomes
            .into_iter()
            .map(|o| o.expect("every entry was appended"))
            .collect()
    }

    async fn count(&self, tenant: &TenantId, person: &PersonId) -> Result<u64, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(person_partition(tenant, person)))
            .key("sk", AttributeValue::S(COUNTER_SK.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let entries = output.item().and_then(|item| item.get("entries"));
        match entries {
            None => Ok(0),
            Some(AttributeValue::N(n)) => n
                .parse()
                .map_err(|_| StoreError::Transient(format!("bad entry count {n:?}"))),
            Some(other) => Err(StoreError::Transient(format!("bad entry count {other:?}"))),
        }
    }

    async fn query(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        query: &JourneyQuery,
    ) -> Result<JourneyPage, StoreError> {
        let Some(range) = query.key_range() else {
            return Ok(JourneyPage::default());
        };
        let pk = person_partition(tenant, person);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lower AND :upper")
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
            .expression_attribute_values(":lower", AttributeValue::S(range.lower))
            .expression_attribute_values(":upper", AttributeValue::S(range.upper))
            .projection_expression("sk, #type, #event, expires_at")
            .expression_attribute_names("#event", "event")
            .expression_attribute_names("#type", "type")
            .scan_index_forward(query.order == Order::Asc);
        request = filter_expression(query, Utc::now()).apply(request);
        let wanted = query.limit + 1; // one more tells whether a next page exists
        let page_items = if query.types.is_empty() && query.source.is_none() {
            wanted as i32
        } else {
            FILTERED_PAGE_ITEMS
        };
        let mut start_key = range.resume_after.map(|sk| {
            HashMap::from([
                ("pk".to_owned(), AttributeValue::S(pk.clone())),
                ("sk".to_owned(), AttributeValue::S(sk)),
            ])
        });
        let mut events: Vec<StoredEvent> = Vec::new();
        loop {
            let output = request
                .clone()
                .limit(page_items.min((wanted - events.len()) as i32).max(1))
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(store_error)?;
            let items: Vec<PageItem> = serde_dynamo::from_items(output.items().to_vec())
                .map_err(|e| StoreError::Transient(format!("unreadable tape item: {e}")))?;
            events.extend(items.into_iter().map(|i| StoredEvent {
                sort_key: i.sk,
                ty: i.ty,
                expires_at: i.expires_at,
                event: i.event,
            }));
            start_key = output.last_evaluated_key().cloned();
            if events.len() >= wanted || start_key.is_none() {
                break;
            }
        }
        let more = events.len() > query.limit;
        events.truncate(query.limit);
        let next = more.then(|| Cursor {
            after: events.last().expect("more implies some").sort_key.clone(),
            order: query.order,
        });
        Ok(JourneyPage { events, next })
    }

    /// The dedup mark is written in the same transaction as the entry.
    async fn holds(&self, entry: &TapeEntry) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(entry.dedup_key()))
            .key("sk", AttributeValue::S("D".into()))
            .consistent_read(true)
            .projection_expression("pk")
            .send()
            .await
            .map_err(store_error)?;
        Ok(output.item.is_some())
    }

    /// Reads the person's partition (entries and counter), then deletes each entry,
    /// its dedup mark and the counter in batches of 25.
    async fn erase(&self, tenant: &TenantId, person: &PersonId) -> Result<u64, StoreError> {
        let pk = person_partition(tenant, person);
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
            .projection_expression("sk, #source, id")
            .expression_attribute_names("#source", "source")
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut keys = Vec::new();
        let mut entries = 0;
        while let Some(item) = pages.next().await {
            let item: ErasableItem = serde_dynamo::from_item(item.map_err(store_error)?)
                .map_err(|e| StoreError::Transient(format!("unreadable tape item: {e}")))?;
            if let (Some(source), Some(id)) = (&item.source, &item.id) {
                let hash = cjaas_core::tape::event_hash(source, id);
                keys.push((format!("T#{tenant}#D#{hash}"), "D".to_owned()));
                entries += 1;
            }
            keys.push((pk.clone(), item.sk));
        }
        for chunk in keys.chunks(25) {
            self.delete_batch(chunk).await?;
        }
        Ok(entries)
    }

    /// Reads the step items once the backfill has completed; the entries until then.
    async fn steps(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        from: Option<DateTime<Utc>>,
        after: Option<String>,
    ) -> Result<StepPage, StoreError> {
        if self.steps_complete().await? {
            self.read_steps(tenant, person, from, after).await
        } else {
            steps_from_entries(self, tenant, person, from, after).await
        }
    }

    /// Resumable: the marker item keeps where the last run stopped.
    async fn backfill_projection(
        &self,
        budget: Option<std::time::Duration>,
    ) -> Result<cjaas_core::projection::BackfillReport, StoreError> {
        self.backfill_steps(budget).await
    }

    /// Reads the `changes` index. It is eventually consistent: the analytics job
    /// reads from a little before its last run to cover writes still arriving.
    async fn changed_since(
        &self,
        tenant: &TenantId,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<PersonId>, StoreError> {
        let prefix = format!("T#{tenant}#P#");
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CHANGES_INDEX)
            .expression_attribute_values(":tenant", AttributeValue::S(format!("T#{tenant}")))
            .projection_expression("pk");
        request = match since {
            None => request.key_condition_expression("ct = :tenant"),
            Some(since) => request
                .key_condition_expression("ct = :tenant AND cm >= :lower")
                .expression_attribute_values(":lower", AttributeValue::S(time_key(since))),
        };
        let mut pages = request.into_paginator().items().send();
        let mut persons = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(store_error)?;
            let Some(AttributeValue::S(pk)) = item.get("pk") else {
                continue;
            };
            if let Some(person) = pk
                .strip_prefix(&prefix)
                .and_then(|p| PersonId::parse(p).ok())
            {
                persons.push(person);
            }
        }
        Ok(persons)
    }
}
