//! Documents (views, aliases, profile snapshots) on DynamoDB: `{pk, sk, body, rev}`.
//! Every write is one `UpdateItem` whose condition carries the expectation, so a
//! concurrent writer loses cleanly instead of overwriting.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;
use std::collections::HashMap;

use cjaas_core::ports::{
    Document, DocumentStore, Expect, Limit, LimitedOutcome, LimitedWrite, StoreError,
};

use crate::store_error;

pub struct DynamoDocumentStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

#[derive(Deserialize)]
struct Item {
    sk: String,
    body: String,
    rev: u64,
}

impl From<Item> for (String, Document) {
    fn from(item: Item) -> Self {
        (
            item.sk,
            Document {
                body: item.body,
                revision: item.rev,
            },
        )
    }
}

fn decode(item: HashMap<String, AttributeValue>) -> Result<(String, Document), StoreError> {
    serde_dynamo::from_item::<_, Item>(item)
        .map(Into::into)
        .map_err(|e| StoreError::Transient(format!("unreadable document: {e}")))
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

impl DynamoDocumentStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> Self {
        Self { client, table }
    }
}

#[async_trait]
impl DocumentStore for DynamoDocumentStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Document>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        output
            .item
            .map(|item| {
                serde_dynamo::from_item::<_, Item>(item)
                    .map(|i| <(String, Document)>::from(i).1)
                    .map_err(|e| StoreError::Transient(format!("unreadable document: {e}")))
            })
            .transpose()
    }

    async fn put(
        &self,
        pk: &str,
        sk: &str,
        body: &str,
        expect: Expect,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("SET body = :body, rev = if_not_exists(rev, :zero) + :one")
            .expression_attribute_values(":body", s(body))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        request = match expect {
            Expect::Anything => request,
            Expect::Absent => request.condition_expression("attribute_not_exists(pk)"),
            Expect::Revision(r) => request
                .condition_expression("rev = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(r.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(store_error(e)),
        }
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn list_page(
        &self,
        pk: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Document)>, StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true);
        request = match after {
            None => request.key_condition_expression("pk = :pk"),
            Some(after) => request
                .key_condition_expression("pk = :pk AND sk > :after")
                .expression_attribute_values(":after", s(after)),
        };
        let mut documents = Vec::new();
        let mut start_key = None;
        while documents.len() < limit {
            let output = request
                .clone()
                .limit((limit - documents.len()).min(1000) as i32)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(store_error)?;
            for item in output.items().iter().cloned() {
                documents.push(decode(item)?);
            }
            start_key = output.last_evaluated_key().cloned();
            if start_key.is_none() {
                break;
            }
        }
        Ok(documents)
    }

    /// A counter item in the same transaction (see [`crate::dynamo_limits`]).
    async fn write_limited(
        &self,
        limit: &Limit,
        write: LimitedWrite<'_>,
    ) -> Result<LimitedOutcome, StoreError> {
        let limits = crate::dynamo_limits::Limits {
            client: &self.client,
            table: &self.table,
        };
        limits.write(limit, write).await
    }

    async fn list(&self, pk: &str) -> Result<Vec<(String, Document)>, StoreError> {
        let items: Vec<_> = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(store_error)?;
        items.into_iter().map(decode).collect()
    }
}
