//! Per-tenant limits on DynamoDB. A counter item (at [`Limit::counter_key`], number
//! `n`) changes in the same `TransactWriteItems` as the document:
//!
//! - **create:** `SET n = n + 1` if `n < max`, and the put of the document if its key
//!   is free;
//! - **delete:** `SET n = n - 1`, and the delete of the document if it exists.
//!
//! So concurrent creates never pass the limit. A tenant whose documents predate the
//! counter has none: the first write counts the partition and puts the counter if it
//! is still absent. That is race-free because, while no counter exists, no counted
//! write can succeed (each one's condition needs the counter). Transactions that
//! conflict on the counter are retried with backoff and full jitter.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, Select, TransactWriteItem, Update};
use rand::Rng;
use std::time::Duration;

use cjaas_core::ports::{Limit, LimitedOutcome, LimitedWrite, StoreError};

use crate::store_error;

const ATTEMPTS: u32 = 12;
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_millis(500);
const CHECK_FAILED: &str = "ConditionalCheckFailed";

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: usize) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn rejected(e: impl std::fmt::Display) -> StoreError {
    StoreError::Rejected(e.to_string())
}

/// The cancellation reason codes of a cancelled transaction, item by item.
fn cancellation_codes(
    error: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>,
) -> Option<Vec<Option<String>>> {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => Some(
            cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

pub(crate) struct Limits<'a> {
    pub client: &'a aws_sdk_dynamodb::Client,
    pub table: &'a str,
}

impl Limits<'_> {
    pub async fn write(
        &self,
        limit: &Limit,
        write: LimitedWrite<'_>,
    ) -> Result<LimitedOutcome, StoreError> {
        let creates = matches!(write, LimitedWrite::Create { .. });
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                let ceiling = (FIRST_BACKOFF * 2u32.pow(attempt - 1)).min(MAX_BACKOFF);
                let jitter = rand::thread_rng().gen_range(0..=ceiling.as_millis() as u64);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
            let result = self
                .client
                .transact_write_items()
                .transact_items(self.counter_change(limit, creates)?)
                .transact_items(self.document_change(&limit.pk, write)?)
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(LimitedOutcome::Done),
                Err(error) => error,
            };
            let Some(codes) = cancellation_codes(&error) else {
                return Err(store_error(error));
            };
            let failed = |i: usize| codes.get(i).and_then(Option::as_deref) == Some(CHECK_FAILED);
            if failed(1) {
                return Ok(LimitedOutcome::Unchanged);
            }
            if failed(0) {
                match self.counter(limit).await? {
                    None => self.start_counter(limit).await?,
                    Some(count) if creates && count >= limit.max as i64 => {
                        return Ok(LimitedOutcome::LimitReached)
                    }
                    Some(_) => {} // the count moved meanwhile: try again
                }
                continue;
            }
            tracing::debug!(pk = %limit.pk, attempt, ?codes, "limited write conflicted; retrying");
        }
        Err(StoreError::Transient(format!(
            "the count of {} stayed contended; try again",
            limit.pk
        )))
    }

    fn counter_change(
        &self,
        limit: &Limit,
        creates: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = limit.counter_key();
        let update = Update::builder()
            .table_name(self.table)
            .key("pk", s(&pk))
            .key("sk", s(&sk))
            .expression_attribute_values(":one", n(1));
        let update = if creates {
            update
                .update_expression("SET n = n + :one")
                .condition_expression("attribute_exists(n) AND n < :max")
                .expression_attribute_values(":max", n(limit.max))
        } else {
            update
                .update_expression("SET n = n - :one")
                .condition_expression("attribute_exists(n)")
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(rejected)?)
            .build())
    }

    fn document_change(
        &self,
        pk: &str,
        write: LimitedWrite<'_>,
    ) -> Result<TransactWriteItem, StoreError> {
        let item = match write {
            LimitedWrite::Create { sk, body } => TransactWriteItem::builder().put(
                Put::builder()
                    .table_name(self.table)
                    .item("pk", s(pk))
                    .item("sk", s(sk))
                    .item("body", s(body))
                    .item("rev", n(1))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(rejected)?,
            ),
            LimitedWrite::Delete { sk } => TransactWriteItem::builder().delete(
                Delete::builder()
                    .table_name(self.table)
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .condition_expression("attribute_exists(pk)")
                    .build()
                    .map_err(rejected)?,
            ),
        };
        Ok(item.build())
    }

    async fn counter(&self, limit: &Limit) -> Result<Option<i64>, StoreError> {
        let (pk, sk) = limit.counter_key();
        let output = self
            .client
            .get_item()
            .table_name(self.table)
            .key("pk", s(&pk))
            .key("sk", s(&sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(output
            .item
            .and_then(|item| item.get("n")?.as_n().ok()?.parse().ok()))
    }

    /// Counts the documents already there and puts the counter, unless a concurrent
    /// writer put it first.
    async fn start_counter(&self, limit: &Limit) -> Result<(), StoreError> {
        let mut count = 0;
        let mut start_key = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(&limit.pk))
                .expression_attribute_values(":prefix", s(limit.prefix))
                .select(Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(store_error)?;
            count += output.count().max(0) as usize;
            start_key = output.last_evaluated_key().cloned();
            if start_key.is_none() {
                break;
            }
        }
        let (pk, sk) = limit.counter_key();
        let put = self
            .client
            .put_item()
            .table_name(self.table)
            .item("pk", s(&pk))
            .item("sk", s(&sk))
            .item("n", n(count))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => {
                tracing::info!(pk = %limit.pk, count, "limit counter started from the documents there");
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(store_error(e)),
        }
    }
}
