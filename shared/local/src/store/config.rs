//! Tenants and API keys, and dead letters, on redb.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use cjaas_core::auth::ApiKeyRecord;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{ConfigStore, DeadLetter, DeadLetterSink, StoreError, TenantRecord};

use super::{from_json, to_json, EmbeddedStore, DEAD_LETTERS, KEYS, TENANTS};

/// A page of dead letters.
type Letters = Result<Vec<DeadLetter>, StoreError>;

impl EmbeddedStore {
    /// Every dead letter, for operators and tests.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.run(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(DEAD_LETTERS)?;
            table.iter()?.map(|row| from_json(row?.1.value())).collect()
        })
        .await
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

    async fn page(&self, tenant: &TenantId, after: Option<&str>, limit: usize) -> Letters {
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
