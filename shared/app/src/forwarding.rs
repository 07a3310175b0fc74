//! Forwarding a tenant's archived events to destinations the tenant owns. The archiver
//! forwards each object right after archiving it; a delivery that fails (after the
//! adapter's own retries) is recorded and retried by the maintenance sweep from the
//! archive, and every destination's status says how deliveries went.

use chrono::Utc;
use serde::Serialize;
use std::sync::Arc;

use crate::documents::decode;
use crate::failure::{problems, AppError, ErrorKind};
use cjaas_core::archive::ArchiveObject;
use cjaas_core::forwarding::{
    config_pk, retry_pk, retry_sk, status_sk, DeliveryStatus, Destination, ForwardingConfig, CONFIG,
};
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{Archive, DocumentStore, Expect, Forwarder, StoreError};
use cjaas_core::problem::FieldProblem;

/// Attempts at a status update that races other writers.
const STATUS_ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum ForwardingError {
    #[error("the destinations are invalid; nothing was stored")]
    Invalid(Vec<FieldProblem>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AppError for ForwardingError {
    fn kind(&self) -> ErrorKind {
        match self {
            ForwardingError::Invalid(_) => ErrorKind::Invalid,
            ForwardingError::Store(e) => e.kind(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            ForwardingError::Invalid(_) => "invalid_request",
            ForwardingError::Store(e) => e.code(),
        }
    }
    fn problems(&self) -> Option<serde_json::Value> {
        match self {
            ForwardingError::Invalid(items) => problems(items),
            _ => None,
        }
    }
    fn wraps(&self) -> Option<&dyn AppError> {
        match self {
            ForwardingError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// A destination with how deliveries to it went, and how many wait for a retry.
#[derive(Debug, Serialize)]
pub struct DestinationView {
    #[serde(flatten)]
    pub destination: Destination,
    pub status: DeliveryStatus,
    pub pending_retries: usize,
}

pub struct Forwarding {
    docs: Arc<dyn DocumentStore>,
    archive: Arc<dyn Archive>,
    forwarder: Arc<dyn Forwarder>,
}

impl Forwarding {
    pub fn new(
        docs: Arc<dyn DocumentStore>,
        archive: Arc<dyn Archive>,
        forwarder: Arc<dyn Forwarder>,
    ) -> Self {
        Self {
            docs,
            archive,
            forwarder,
        }
    }

    pub async fn config(&self, tenant: &TenantId) -> Result<ForwardingConfig, StoreError> {
        match self.docs.get(&config_pk(tenant), CONFIG).await? {
            Some(doc) => decode(&doc.body),
            None => Ok(ForwardingConfig::default()),
        }
    }

    /// Replaces the destinations. Deliveries start with the next archived batch.
    pub async fn put_config(
        &self,
        tenant: &TenantId,
        config: ForwardingConfig,
    ) -> Result<Vec<DestinationView>, ForwardingError> {
        config.validate().map_err(ForwardingError::Invalid)?;
        let body = serde_json::to_string(&config).expect("configs serialize");
        self.docs
            .put(&config_pk(tenant), CONFIG, &body, Expect::Anything)
            .await?;
        Ok(self.views(tenant).await?)
    }

    pub async fn views(&self, tenant: &TenantId) -> Result<Vec<DestinationView>, StoreError> {
        let retries = self.docs.list(&retry_pk(tenant)).await?;
        let mut views = Vec::new();
        for destination in self.config(tenant).await?.destinations {
            let status = match self
                .docs
                .get(&config_pk(tenant), &status_sk(&destination.id))
                .await?
            {
                Some(doc) => decode(&doc.body)?,
                None => DeliveryStatus::default(),
            };
            let prefix = format!("{}#", destination.id);
            let pending_retries = retries
                .iter()
                .filter(|(sk, _)| sk.starts_with(&prefix))
                .count();
            views.push(DestinationView {
                destination,
                status,
                pending_retries,
            });
        }
        Ok(views)
    }

    /// Forwards freshly archived objects to their tenants' destinations. Never fails
    /// the batch: a failed delivery is recorded for the sweep to retry.
    pub async fn forward(&self, objects: &[ArchiveObject]) {
        let mut configs: std::collections::HashMap<TenantId, Vec<Destination>> = Default::default();
        for object in objects {
            if !configs.contains_key(&object.tenant) {
                let destinations = match self.config(&object.tenant).await {
                    Ok(config) => config.destinations,
                    Err(e) => {
                        tracing::warn!(tenant = %object.tenant, error = %e, "forwarding config unreadable; skipping this batch's forwarding");
                        Vec::new()
                    }
                };
                configs.insert(object.tenant.clone(), destinations);
            }
            for destination in &configs[&object.tenant] {
                self.deliver(&object.tenant, destination, &object.data_key, &object.data)
                    .await;
            }
        }
    }

    /// Retries every recorded failed delivery of `tenant`, reading the objects back
    /// from the archive. Returns how many succeeded.
    pub async fn retry_pending(&self, tenant: &TenantId) -> Result<usize, StoreError> {
        let destinations = self.config(tenant).await?.destinations;
        let mut delivered = 0;
        for (sk, _) in self.docs.list(&retry_pk(tenant)).await? {
            let Some((id, key)) = sk.split_once('#') else {
                continue;
            };
            let (Some(destination), Some(data)) = (
                destinations.iter().find(|d| d.id == id),
                self.archive.get(key).await?,
            ) else {
                // The destination was removed, or the object erased or expired.
                self.docs.delete(&retry_pk(tenant), &sk).await?;
                continue;
            };
            if self.deliver(tenant, destination, key, &data).await {
                delivered += 1;
            }
        }
        Ok(delivered)
    }

    /// One delivery, its status and its retry record. `true` if it went through.
    async fn deliver(
        &self,
        tenant: &TenantId,
        destination: &Destination,
        key: &str,
        data: &[u8],
    ) -> bool {
        let retry = retry_sk(&destination.id, key);
        match self.forwarder.deliver(&destination.target, key, data).await {
            Ok(events) => {
                if let Err(e) = self.docs.delete(&retry_pk(tenant), &retry).await {
                    tracing::warn!(tenant = %tenant, error = %e, "could not clear a forwarding retry");
                }
                self.update_status(tenant, &destination.id, |s| {
                    s.delivered_objects += 1;
                    s.delivered_events += events;
                    s.last_success_at = Some(Utc::now());
                })
                .await;
                true
            }
            Err(error) => {
                tracing::warn!(tenant = %tenant, destination = %destination.id, key, %error, "forwarding failed; it will be retried");
                if let Err(e) = self
                    .docs
                    .put(&retry_pk(tenant), &retry, "{}", Expect::Anything)
                    .await
                {
                    tracing::error!(tenant = %tenant, error = %e, "could not record a forwarding retry");
                }
                let message: String = error.to_string().chars().take(500).collect();
                self.update_status(tenant, &destination.id, move |s| {
                    s.failed_attempts += 1;
                    s.last_failure_at = Some(Utc::now());
                    s.last_error = Some(message.clone());
                })
                .await;
                false
            }
        }
    }

    /// Read, change, write conditionally; a lost race reads again.
    async fn update_status(
        &self,
        tenant: &TenantId,
        id: &str,
        change: impl Fn(&mut DeliveryStatus),
    ) {
        let (pk, sk) = (config_pk(tenant), status_sk(id));
        for _ in 0..STATUS_ATTEMPTS {
            let current = match self.docs.get(&pk, &sk).await {
                Ok(current) => current,
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "forwarding status unreadable");
                    return;
                }
            };
            let (mut status, expect) = match current {
                Some(doc) => (
                    decode(&doc.body).unwrap_or_default(),
                    Expect::Revision(doc.revision),
                ),
                None => (DeliveryStatus::default(), Expect::Absent),
            };
            change(&mut status);
            let body = serde_json::to_string(&status).expect("statuses serialize");
            if let Ok(true) = self.docs.put(&pk, &sk, &body, expect).await {
                return;
            }
        }
        tracing::warn!(tenant = %tenant, destination = id, "forwarding status not updated after retries");
    }
}
