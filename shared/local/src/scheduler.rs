//! The embedded default's event bus and background jobs, the same code as the
//! `analytics` and `maintenance` Lambdas: analytics every `analytics_every` and on a
//! tenant's request, erasures on request, rules' actions as they fire, absence timers
//! every few seconds, and once an hour the maintenance sweep
//! (expired Tape entries, the archive's retention, erasures left pending, forwarding
//! retries).

use async_trait::async_trait;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

use cjaas_app::actions::ActionRunner;
use cjaas_app::analytics::{Analytics, RUN_REQUESTED};
use cjaas_app::archive::ArchiveRetention;
use cjaas_app::erasure::{Erasures, ERASURE_REQUESTED};
use cjaas_app::forwarding::Forwarding;
use cjaas_app::orchestration::{ActionEvent, Orchestrator, ACTION_TRIGGERED};
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{BusEvent, ConfigStore, EventBus, StoreError};

use crate::EmbeddedStore;

const MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);
/// How often due absence timers are looked for.
const TIMERS_EVERY: Duration = Duration::from_secs(5);

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

/// A string field of an event's detail.
fn detail(event: &BusEvent, field: &str) -> Option<String> {
    let detail: serde_json::Value = serde_json::from_str(&event.detail).ok()?;
    Some(detail.get(field)?.as_str()?.to_owned())
}

/// The tenant a run request names.
pub fn requested_tenant(event: &BusEvent) -> Option<TenantId> {
    if event.detail_type != RUN_REQUESTED {
        return None;
    }
    TenantId::parse(&detail(event, "tenant")?).ok()
}

pub struct Scheduler {
    pub analytics: Arc<Analytics>,
    pub erasures: Arc<Erasures>,
    pub forwarding: Arc<Forwarding>,
    pub orchestrator: Arc<Orchestrator>,
    pub actions: Arc<ActionRunner>,
    pub retention: ArchiveRetention,
    pub store: EmbeddedStore,
    pub analytics_every: Duration,
}

impl Scheduler {
    /// Runs until `shutdown`; every timer fires once at start.
    pub async fn run(
        self,
        mut requests: broadcast::Receiver<BusEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        if *shutdown.borrow() {
            return;
        }
        let mut analytics = tokio::time::interval(self.analytics_every);
        let mut maintenance = tokio::time::interval(MAINTENANCE_EVERY);
        let mut timers = tokio::time::interval(TIMERS_EVERY);
        for timer in [&mut analytics, &mut maintenance, &mut timers] {
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        loop {
            tokio::select! {
                _ = analytics.tick() => self.for_each_tenant(|t| self.run_analytics(t)).await,
                _ = maintenance.tick() => self.maintain().await,
                _ = timers.tick() => self.for_each_tenant(|t| self.run_timers(t)).await,
                request = requests.recv() => match request {
                    Ok(event) => self.on_event(&event).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => self.maintain().await,
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

    async fn on_event(&self, event: &BusEvent) {
        if event.detail_type == ACTION_TRIGGERED {
            self.run_action(event);
        } else if let Some(tenant) = requested_tenant(event) {
            self.run_analytics(tenant).await;
        } else if event.detail_type == ERASURE_REQUESTED {
            let (Some(tenant), Some(job)) = (detail(event, "tenant"), detail(event, "job")) else {
                return;
            };
            if let Ok(tenant) = TenantId::parse(&tenant) {
                self.run_erasure(&tenant, &job).await;
            }
        }
    }

    async fn for_each_tenant<F, Fut>(&self, job: F)
    where
        F: Fn(TenantId) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        match self.store.list_tenants().await {
            Ok(tenants) => {
                for tenant in tenants {
                    job(tenant).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list tenants"),
        }
    }

    async fn run_analytics(&self, tenant: TenantId) {
        if let Err(e) = self.analytics.run(&tenant, Utc::now()).await {
            tracing::warn!(tenant = %tenant, error = %e, "analytics run failed");
        }
    }

    /// Actions run on their own task: a slow webhook never holds up the others.
    fn run_action(&self, event: &BusEvent) {
        let action: ActionEvent = match serde_json::from_str(&event.detail) {
            Ok(action) => action,
            Err(e) => return tracing::warn!(error = %e, "unreadable action event"),
        };
        let runner = self.actions.clone();
        tokio::spawn(async move {
            match runner.run(&action).await {
                Ok(outcome) => tracing::info!(action = %action.action_id, ?outcome, "action done"),
                Err(e) => tracing::warn!(action = %action.action_id, error = %e, "action failed"),
            }
        });
    }

    async fn run_timers(&self, tenant: TenantId) {
        if let Err(e) = self.orchestrator.run_due_timers(&tenant, Utc::now()).await {
            tracing::warn!(tenant = %tenant, error = %e, "absence timers failed; retried next tick");
        }
    }

    async fn run_erasure(&self, tenant: &TenantId, job: &str) {
        if let Err(e) = self.erasures.run(tenant, job).await {
            tracing::warn!(tenant = %tenant, job, error = %e, "erasure failed; the sweep retries it");
        }
    }

    /// Expired Tape entries (DynamoDB's TTL in AWS), the archive's retention, and
    /// erasures left pending.
    async fn maintain(&self) {
        let now = Utc::now();
        match self.store.sweep_expired(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "expired Tape entries removed"),
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
        self.for_each_tenant(|tenant| async move {
            if let Err(e) = self.retention.sweep(&tenant, now).await {
                tracing::warn!(tenant = %tenant, error = %e, "archive retention sweep failed");
            }
            for job in self.erasures.pending(&tenant).await.unwrap_or_default() {
                self.run_erasure(&tenant, &job).await;
            }
            if let Err(e) = self.forwarding.retry_pending(&tenant).await {
                tracing::warn!(tenant = %tenant, error = %e, "forwarding retries failed");
            }
        })
        .await;
    }
}
