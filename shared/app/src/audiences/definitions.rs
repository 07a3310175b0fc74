//! Audience definitions: created, read (any version), listed, updated and deleted.
//! Each create or update asks for a backfill of the new version on the bus.

use chrono::Utc;
use std::sync::Arc;

use cjaas_core::audience::{
    keys, new_audience_id, AudienceDefinition, StoredAudience, AUDIENCE_ID_PREFIX, MAX_AUDIENCES,
};
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{
    BusEvent, DocumentStore, EventBus, Expect, Limit, LimitedOutcome, LimitedWrite,
};

use crate::documents::{decode, encode};
use crate::jobs::BusMessage;
use crate::profiles::Views;

use super::backfill::{queue_status, BackfillStatus};
use super::AudienceError;

pub struct Audiences {
    docs: Arc<dyn DocumentStore>,
    bus: Arc<dyn EventBus>,
    views: Views,
}

fn limit(tenant: &TenantId) -> Limit {
    Limit {
        pk: keys::audiences(tenant),
        prefix: AUDIENCE_ID_PREFIX,
        max: MAX_AUDIENCES,
    }
}

impl Audiences {
    pub fn new(docs: Arc<dyn DocumentStore>, bus: Arc<dyn EventBus>) -> Self {
        Self {
            views: Views::new(docs.clone()),
            docs,
            bus,
        }
    }

    /// Compiles the condition and checks that the views it reads exist.
    async fn validate(
        &self,
        tenant: &TenantId,
        definition: &AudienceDefinition,
    ) -> Result<(), AudienceError> {
        let compiled = definition.compile().map_err(AudienceError::Invalid)?;
        let problems = self
            .views
            .unknown_in_condition(tenant, &compiled.views)
            .await?;
        match problems.is_empty() {
            true => Ok(()),
            false => Err(AudienceError::Invalid(problems)),
        }
    }

    /// Stores version 1 and asks for its backfill.
    pub async fn create(
        &self,
        tenant: &TenantId,
        definition: AudienceDefinition,
    ) -> Result<StoredAudience, AudienceError> {
        self.validate(tenant, &definition).await?;
        let now = Utc::now();
        let audience = StoredAudience {
            id: new_audience_id(),
            version: 1,
            definition,
            created_at: now,
            updated_at: now,
        };
        // The status first: a backfill request never finds it missing.
        queue_status(self.docs.as_ref(), tenant, &audience).await?;
        let body = encode(&audience);
        let create = LimitedWrite::Create {
            sk: &audience.id,
            body: &body,
        };
        match self.docs.write_limited(&limit(tenant), create).await? {
            LimitedOutcome::Done => {}
            LimitedOutcome::LimitReached => {
                let _ = self
                    .docs
                    .delete(&keys::statuses(tenant), &audience.id)
                    .await;
                return Err(AudienceError::TooMany);
            }
            LimitedOutcome::Unchanged => return Err(AudienceError::Conflict),
        }
        self.archive(tenant, &audience).await?;
        self.request_backfill(tenant, &audience).await;
        Ok(audience)
    }

    /// A new version with one conditional write of the head; then its backfill.
    pub async fn update(
        &self,
        tenant: &TenantId,
        id: &str,
        definition: AudienceDefinition,
    ) -> Result<StoredAudience, AudienceError> {
        self.validate(tenant, &definition).await?;
        let (mut audience, revision) = self.head(tenant, id).await?;
        audience.version += 1;
        audience.definition = definition;
        audience.updated_at = Utc::now();
        queue_status(self.docs.as_ref(), tenant, &audience).await?;
        if !self
            .docs
            .put(
                &keys::audiences(tenant),
                id,
                &encode(&audience),
                Expect::Revision(revision),
            )
            .await?
        {
            return Err(AudienceError::Conflict);
        }
        self.archive(tenant, &audience).await?;
        self.request_backfill(tenant, &audience).await;
        Ok(audience)
    }

    /// Copies the version into the archive (idempotent).
    async fn archive(
        &self,
        tenant: &TenantId,
        audience: &StoredAudience,
    ) -> Result<(), AudienceError> {
        let (pk, sk) = (
            keys::versions(tenant, &audience.id),
            keys::version(audience.version),
        );
        self.docs
            .put(&pk, &sk, &encode(audience), Expect::Anything)
            .await?;
        Ok(())
    }

    /// Best effort: a request lost on the way leaves the status `queued`, and the
    /// next update (or `cjaas-local`'s restart) asks again.
    async fn request_backfill(&self, tenant: &TenantId, audience: &StoredAudience) {
        let message = BusMessage::AudienceBackfillRequested {
            tenant: tenant.clone(),
            audience: audience.id.clone(),
            version: audience.version,
        };
        if let Err(e) = self.bus.publish(&[BusEvent::from(&message)]).await {
            tracing::warn!(tenant = %tenant, audience = %audience.id, error = %e, "backfill request not published");
        }
    }

    pub(super) async fn head(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<(StoredAudience, u64), AudienceError> {
        head(self.docs.as_ref(), tenant, id)
            .await?
            .ok_or_else(|| AudienceError::NotFound(id.to_owned()))
    }

    /// The latest version, or `version`.
    pub async fn get(
        &self,
        tenant: &TenantId,
        id: &str,
        version: Option<u32>,
    ) -> Result<StoredAudience, AudienceError> {
        let (latest, _) = self.head(tenant, id).await?;
        let Some(version) = version.filter(|v| *v != latest.version) else {
            return Ok(latest);
        };
        let document = self
            .docs
            .get(&keys::versions(tenant, id), &keys::version(version))
            .await?
            .ok_or_else(|| AudienceError::VersionNotFound(id.to_owned(), version))?;
        Ok(decode(&document.body)?)
    }

    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<StoredAudience>, AudienceError> {
        Ok(list(self.docs.as_ref(), tenant).await?)
    }

    /// The backfill status of the audience's latest version.
    pub async fn status(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<BackfillStatus, AudienceError> {
        self.head(tenant, id).await?;
        let document = self
            .docs
            .get(&keys::statuses(tenant), id)
            .await?
            .ok_or_else(|| AudienceError::NotFound(id.to_owned()))?;
        Ok(decode(&document.body)?)
    }

    /// Deletes the audience with its memberships, sizes, versions and status. No exit
    /// events are appended: the audience no longer exists.
    pub async fn delete(&self, tenant: &TenantId, id: &str) -> Result<(), AudienceError> {
        self.head(tenant, id).await?;
        let outcome = self
            .docs
            .write_limited(&limit(tenant), LimitedWrite::Delete { sk: id })
            .await?;
        if outcome == LimitedOutcome::Unchanged {
            return Err(AudienceError::NotFound(id.to_owned()));
        }
        for pk in [
            keys::members(tenant, id),
            keys::sizes(tenant, id),
            keys::versions(tenant, id),
        ] {
            for (sk, _) in self.docs.list(&pk).await? {
                self.docs.delete(&pk, &sk).await?;
            }
        }
        self.docs.delete(&keys::statuses(tenant), id).await?;
        Ok(())
    }
}

pub(super) async fn head(
    docs: &dyn DocumentStore,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<(StoredAudience, u64)>, cjaas_core::ports::StoreError> {
    if !cjaas_core::resource_id::valid(id) {
        return Ok(None);
    }
    match docs.get(&keys::audiences(tenant), id).await? {
        Some(document) => Ok(Some((decode(&document.body)?, document.revision))),
        None => Ok(None),
    }
}

pub(super) async fn list(
    docs: &dyn DocumentStore,
    tenant: &TenantId,
) -> Result<Vec<StoredAudience>, cjaas_core::ports::StoreError> {
    let mut audiences = Vec::new();
    for (_, document) in docs.list(&keys::audiences(tenant)).await? {
        audiences.push(decode(&document.body)?);
    }
    Ok(audiences)
}
