//! The embedded default's event bus and background jobs: the same table of
//! scheduled jobs (`cjaas_app::jobs::scheduled`) and the same messages as the
//! Lambdas, run through the same `Jobs::run`. Each scheduled job runs on its own
//! timer (the analytics one every `analytics_every`); bus messages run as they come,
//! actions on their own task. A job's failure is logged; its next tick runs it again.

use async_trait::async_trait;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use cjaas_app::jobs::{
    scheduled, BusMessage, FirstRun, Jobs, ScheduledJob, Trigger, ANALYTICS, SWEEP,
};
use cjaas_core::ports::{BusEvent, EventBus, StoreError};

use crate::adapters::LocalAdapters;

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
    pub jobs: Arc<Jobs<LocalAdapters>>,
    /// The analytics job's period; the other jobs keep the table's.
    pub analytics_every: Duration,
}

impl Scheduler {
    fn period(&self, job: &ScheduledJob<LocalAdapters>) -> Duration {
        if job.name == ANALYTICS {
            self.analytics_every
        } else {
            job.every
        }
    }

    /// Runs until `shutdown`. A job whose first run is `AfterOnePeriod` (analytics:
    /// on a restart the stored reports are served as they were until the next run is
    /// due) waits one period; the others run at start.
    pub async fn run(
        self,
        mut requests: broadcast::Receiver<BusEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        if *shutdown.borrow() {
            return;
        }
        let table = scheduled::<LocalAdapters>();
        let start = Instant::now();
        let mut due: Vec<Instant> = table
            .iter()
            .map(|job| match job.first_run {
                FirstRun::AtStart => start,
                FirstRun::AfterOnePeriod => start + self.period(job),
            })
            .collect();
        loop {
            let (next, at) = due
                .iter()
                .copied()
                .enumerate()
                .min_by_key(|(_, at)| *at)
                .expect("the table has jobs");
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {
                    let job = &table[next];
                    // As a delayed interval: the next run is a period after this one.
                    due[next] = Instant::now() + self.period(job);
                    self.run_scheduled(job.name).await;
                }
                request = requests.recv() => match request {
                    Ok(event) => self.on_event(&event).await,
                    // Missed messages: the sweep runs the pending erasures.
                    Err(broadcast::error::RecvError::Lagged(_)) => self.run_scheduled(SWEEP).await,
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

    async fn run_scheduled(&self, job: &'static str) {
        let trigger = Trigger::Schedule {
            job: job.into(),
            at: Utc::now(),
        };
        if let Err(e) = self.jobs.run(trigger).await {
            tracing::warn!(job, error = %e, "job failed; it runs again at its next tick");
        }
    }

    /// Actions run on their own task: a slow webhook never holds up the others.
    async fn on_event(&self, event: &BusEvent) {
        let message = match BusMessage::try_from(event) {
            Ok(message) => message,
            Err(e) => return tracing::warn!(error = %e, "bus message refused"),
        };
        let kind = message.detail_type();
        let trigger = Trigger::Message {
            message,
            at: Utc::now(),
        };
        let jobs = self.jobs.clone();
        let run = async move {
            match jobs.run(trigger).await {
                Ok(done) => tracing::info!(message = kind, %done, "bus message done"),
                // An erasure stays pending (the sweep runs it again); an action's
                // failure is in its delivery log.
                Err(e) => tracing::warn!(message = kind, error = %e, "bus message failed"),
            }
        };
        // An action, a backfill or a backtest on its own task: a long one never holds up the bus.
        if matches!(
            kind,
            "ActionTriggered" | "AudienceBackfillRequested" | "BacktestRequested"
        ) {
            tokio::spawn(run);
        } else {
            run.await;
        }
    }
}
