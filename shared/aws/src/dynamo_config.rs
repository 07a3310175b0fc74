//! Tenants and API keys on DynamoDB. Keys live under their tenant's partition:
//!
//! | item   | `pk`          | `sk`           |
//! |--------|---------------|----------------|
//! | tenant | `T#{tenant}`  | `TENANT`       |
//! | key    | `T#{tenant}`  | `KEY#{key id}` |
//! | registry | `TENANTS`   | `{tenant}`     |
//!
//! The registry lists tenants for scheduled jobs; it holds nothing but their names.
//!
//! A key is only ever looked up with the tenant named in the presented token, so a
//! key id of one tenant can never authenticate another.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use cjaas_core::auth::ApiKeyRecord;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{ConfigStore, StoreError, TenantRecord};

use crate::store_error;

pub struct DynamoConfigStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

#[derive(Serialize, Deserialize)]
struct Item<T> {
    pk: String,
    sk: String,
    #[serde(flatten)]
    record: T,
}

const REGISTRY_PK: &str = "TENANTS";

fn tenant_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}")
}

fn key_sk(key_id: &str) -> String {
    format!("KEY#{key_id}")
}

fn decode<T: for<'de> Deserialize<'de>>(
    item: std::collections::HashMap<String, AttributeValue>,
) -> Result<T, StoreError> {
    serde_dynamo::from_item::<_, Item<T>>(item)
        .map(|i| i.record)
        .map_err(|e| StoreError::Transient(format!("unreadable config item: {e}")))
}

impl DynamoConfigStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> Self {
        Self { client, table }
    }

    async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        pk: String,
        sk: String,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        output.item.map(decode).transpose()
    }
}

fn to_item<T: Serialize>(
    pk: String,
    sk: String,
    record: &T,
) -> Result<std::collections::HashMap<String, AttributeValue>, StoreError> {
    serde_dynamo::to_item(Item { pk, sk, record }).map_err(|e| StoreError::Rejected(e.to_string()))
}

#[async_trait]
impl ConfigStore for DynamoConfigStore {
    async fn create_tenant(&self, tenant: &TenantRecord) -> Result<bool, StoreError> {
        let item = to_item(tenant_pk(&tenant.tenant), "TENANT".into(), tenant)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        // Registered after the tenant item (and again on a repeat) so it is never missing.
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(REGISTRY_PK.into()))
            .item("sk", AttributeValue::S(tenant.tenant.to_string()))
            .send()
            .await
            .map_err(store_error)?;
        match result {
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

    async fn list_tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(REGISTRY_PK.into()))
            .into_paginator()
            .items()
            .send();
        let mut tenants = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(store_error)?;
            if let Some(tenant) = item
                .get("sk")
                .and_then(|sk| sk.as_s().ok())
                .and_then(|sk| TenantId::parse(sk).ok())
            {
                tenants.push(tenant);
            }
        }
        Ok(tenants)
    }

    async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<TenantRecord>, StoreError> {
        self.get(tenant_pk(tenant), "TENANT".into()).await
    }

    async fn update_tenant(&self, tenant: &TenantRecord) -> Result<(), StoreError> {
        let item = to_item(tenant_pk(&tenant.tenant), "TENANT".into(), tenant)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn put_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let item = to_item(tenant_pk(&key.tenant), key_sk(&key.key_id), key)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn get_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.get(tenant_pk(tenant), key_sk(key_id)).await
    }

    async fn list_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let items: Vec<_> = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(tenant_pk(tenant)))
            .expression_attribute_values(":prefix", AttributeValue::S("KEY#".into()))
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
