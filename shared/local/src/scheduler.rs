//! The embedded default's event bus and analytics timer: the same job as the
//! `analytics` Lambda, run every `every` and whenever a tenant asks for a run.

use async_trait::async_trait;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

use cjaas_app::analytics::{Analytics, RUN_REQUESTED};
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{BusEvent, ConfigStore, EventBus, StoreError};

/// An in-process bus: every subscriber sees every event published after it subscribed.
#[derive(Clone)]
pub struct LocalBus {
    sender: broadcast::Sender<BusEvent>,
}

impl Default for LocalBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(1024).0,
        }
    }
}

impl LocalBus {
    pub fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.sender.subscribe()
    }
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), StoreError> {
        for event in events {
            // No subscriber yet is not a failure: nobody was listening.
            let _ = self.sender.send(event.clone());
        }
        Ok(())
    }
}

/// The tenant a run request names.
pub fn requested_tenant(event: &BusEvent) -> Option<TenantId> {
    if event.detail_type != RUN_REQUESTED {
        return None;
    }
    let detail: serde_json::Value = serde_json::from_str(&event.detail).ok()?;
    TenantId::parse(detail.get("tenant")?.as_str()?).ok()
}

pub struct AnalyticsScheduler {
    pub analytics: Arc<Analytics>,
    pub tenants: Arc<dyn ConfigStore>,
    pub every: Duration,
}

impl AnalyticsScheduler {
    /// Runs every tenant now and then every `every`, and one tenant on request.
    pub async fn run(
        self,
        mut requests: broadcast::Receiver<BusEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        if *shutdown.borrow() {
            return;
        }
        let mut timer = tokio::time::interval(self.every);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = timer.tick() => self.run_all().await,
                request = requests.recv() => match request {
                    Ok(event) => {
                        if let Some(tenant) = requested_tenant(&event) {
                            self.run_one(&tenant).await;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => self.run_all().await,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
    }

    async fn run_all(&self) {
        match self.tenants.list_tenants().await {
            Ok(tenants) => {
                for tenant in tenants {
                    self.run_one(&tenant).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "analytics could not list tenants"),
        }
    }

    async fn run_one(&self, tenant: &TenantId) {
        if let Err(e) = self.analytics.run(tenant, Utc::now()).await {
            tracing::warn!(tenant = %tenant, error = %e, "analytics run failed");
        }
    }
}
