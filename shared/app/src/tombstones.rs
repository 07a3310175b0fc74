//! Erasure tombstones (see `cjaas_core::erasure`): what lets the readers of a stream
//! that cannot be rewritten (Kinesis keeps records for its retention) skip an erased
//! person's earlier records. A tombstone holds a hash of the tenant and person id and
//! the time of the erasure, never the id itself; it lives as long as the stream keeps
//! records, then goes.

use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Arc;

use cjaas_core::erasure::{tombstone_key, tombstones, Tombstone, DEFAULT_TOMBSTONE_TTL};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{DocumentStore, Expect, StoreError};

use crate::documents::{decode, encode};

#[derive(Clone)]
pub struct Tombstones {
    docs: Arc<dyn DocumentStore>,
    ttl: Duration,
}

impl Tombstones {
    pub fn new(docs: Arc<dyn DocumentStore>) -> Self {
        Self {
            docs,
            ttl: DEFAULT_TOMBSTONE_TTL,
        }
    }

    /// How long tombstones last: at least the stream's retention.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Marks `ids` erased at `at`; returns until when.
    pub async fn record(
        &self,
        tenant: &TenantId,
        ids: impl IntoIterator<Item = &PersonId>,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let tombstone = Tombstone {
            erased_at: at,
            expires_at: at + self.ttl,
        };
        for id in ids {
            let key = tombstone_key(tenant, id);
            self.docs
                .put(
                    &tombstones(tenant),
                    &key,
                    &encode(&tombstone),
                    Expect::Anything,
                )
                .await?;
        }
        Ok(tombstone.expires_at)
    }

    /// The tenant's tombstones still in force at `now`.
    pub async fn load(&self, tenant: &TenantId, now: DateTime<Utc>) -> Result<Erased, StoreError> {
        let mut erased = HashMap::new();
        for (key, document) in self.docs.list(&tombstones(tenant)).await? {
            let tombstone: Tombstone = decode(&document.body)?;
            if tombstone.expires_at > now {
                erased.insert(key, tombstone.erased_at);
            }
        }
        Ok(Erased {
            tenant: tenant.clone(),
            erased,
        })
    }

    /// Deletes the tenant's expired tombstones; returns how many went.
    pub async fn prune(&self, tenant: &TenantId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let pk = tombstones(tenant);
        let mut pruned = 0;
        for (key, document) in self.docs.list(&pk).await? {
            let tombstone: Tombstone = decode(&document.body)?;
            if tombstone.expires_at <= now {
                self.docs.delete(&pk, &key).await?;
                pruned += 1;
            }
        }
        Ok(pruned)
    }
}

/// One tenant's tombstones in force, read once and asked many times.
#[derive(Debug, Clone)]
pub struct Erased {
    tenant: TenantId,
    erased: HashMap<String, DateTime<Utc>>,
}

impl Erased {
    /// Whether a record of `person` that reached the stream at `received_at` was
    /// erased. Records after the erasure are a new person's, and kept.
    pub fn hides(&self, person: &PersonId, received_at: DateTime<Utc>) -> bool {
        !self.erased.is_empty()
            && self
                .erased
                .get(&tombstone_key(&self.tenant, person))
                .is_some_and(|erased_at| received_at <= *erased_at)
    }

    pub fn is_empty(&self) -> bool {
        self.erased.is_empty()
    }
}
