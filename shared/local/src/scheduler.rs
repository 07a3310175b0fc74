//! The embedded default's event bus and background jobs, the same use cases
//! (`cjaas_app::jobs`) as the `analytics`, `maintenance`, `orchestrator` and
//! `actions` Lambdas: analytics every `analytics_every` and on a tenant's request,
//! erasures and backtests on request, rules' actions as they fire, absence timers every few
//! seconds, and once an hour the maintenance sweep (and the expired Tape entries,
//! which DynamoDB's TTL removes in AWS). A job's failure is logged; the next tick
//! runs it again.

use async_trait::async_trait;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

use cjaas_app::actions::ActionRunner;
use cjaas_app::jobs::{
    all_tenants, run_timers, AnalyticsJob, Backtests, BusMessage, JobFailed, Maintenance,
};
use cjaas_app::orchestration::{ActionEvent, Orchestrator};
use cjaas_core::ports::{BusEvent, EventBus, StoreError};

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

pub struct Scheduler {
    pub analytics: Arc<AnalyticsJob>,
    pub maintenance: Arc<Maintenance>,
    pub backtests: Arc<Backtests>,
    pub orchestrator: Arc<Orchestrator>,
    pub actions: Arc<ActionRunner>,
    pub store: EmbeddedStore,
    pub analytics_every: Duration,
}

/// Logs a job's failures; the job runs again at its next tick.
fn log_failure<T>(job: &str, result: Result<T, JobFailed>) {
    if let Err(e) = result {
        tracing::warn!(job, error = %e, "job failed; it runs again at its next tick");
    }
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
        // The first analytics run waits one period: on a restart the stored reports are
        // served as they were (with their `computed_at`) until the next run is due.
        let first_run = tokio::time::Instant::now() + self.analytics_every;
        let mut analytics = tokio::time::interval_at(first_run, self.analytics_every);
        let mut maintenance = tokio::time::interval(MAINTENANCE_EVERY);
        let mut timers = tokio::time::interval(TIMERS_EVERY);
        for timer in [&mut analytics, &mut maintenance, &mut timers] {
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        loop {
            tokio::select! {
                _ = analytics.tick() => self.run_analytics().await,
                _ = maintenance.tick() => self.maintain().await,
                _ = timers.tick() => self.run_timers().await,
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
        match BusMessage::try_from(event) {
            Ok(BusMessage::ActionTriggered(action)) => self.run_action(action),
            Ok(BusMessage::AnalyticsRunRequested { tenant, .. }) => {
                match self.analytics.run_requested(&tenant, Utc::now()).await {
                    Ok(runs) => log_failure("analytics", runs.into_result()),
                    Err(e) => tracing::warn!(error = %e, "analytics run request refused"),
                }
            }
            Ok(BusMessage::ErasureRequested { tenant, job }) => {
                // A failure is logged by the job; the sweep runs it again.
                let _ = self.maintenance.erase(&tenant, &job).await;
            }
            Ok(BusMessage::BacktestRequested { tenant, job }) => {
                // On its own task: a long replay never holds up the other jobs.
                let backtests = self.backtests.clone();
                tokio::spawn(async move {
                    if let Err(e) = backtests.run(&tenant, &job).await {
                        tracing::warn!(tenant = %tenant, job, error = %e, "backtest not run");
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "bus message refused"),
        }
    }

    async fn run_analytics(&self) {
        let runs = self.analytics.run_all(Utc::now()).await;
        log_failure("analytics", runs.and_then(|runs| runs.into_result()));
    }

    /// Actions run on their own task: a slow webhook never holds up the others.
    fn run_action(&self, action: ActionEvent) {
        let runner = self.actions.clone();
        tokio::spawn(async move {
            match runner.run(&action).await {
                Ok(outcome) => tracing::info!(action = %action.action_id, ?outcome, "action done"),
                Err(e) => tracing::warn!(action = %action.action_id, error = %e, "action failed"),
            }
        });
    }

    async fn run_timers(&self) {
        let report = match all_tenants(&self.store).await {
            Ok(tenants) => run_timers(&self.orchestrator, &tenants, Utc::now())
                .await
                .into_result(),
            Err(e) => Err(e),
        };
        log_failure("timers", report);
    }

    /// Expired Tape entries (DynamoDB's TTL in AWS), then the maintenance sweep.
    async fn maintain(&self) {
        let now = Utc::now();
        match self.store.sweep_expired(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "expired Tape entries removed"),
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
        let report = self.maintenance.sweep_all(now).await;
        log_failure(
            "maintenance",
            report.and_then(|report| report.into_result()),
        );
    }
}
