//! Everything a schedule, a stream batch, a bus message or an operator command
//! triggers, written once. The Lambda handlers (`cjaas_aws::lambda`) and the local
//! scheduler, poller and CLI (`cjaas-local`) only translate their payloads into these
//! calls and the reports back into their own kind of failure.
//!
//! One failure rule for every job over tenants: a failing tenant never stops the
//! others; the report names it, and the trigger decides what a failure means
//! (a Lambda returns `Err` so that EventBridge retries; the local scheduler logs and
//! retries at its next tick).

mod analytics;
mod audiences;
mod backtest;
mod backtest_run;
mod bus;
mod families;
mod operations;
mod run;
mod schedule;
mod stalled;
mod stream;
mod sweep;
mod timers;

pub use analytics::{AnalyticsJob, AnalyticsRuns, TenantRun, UnknownTenant};
pub use audiences::{
    audiences_on_entries, resume_backfills, run_audience_checks, run_audience_message,
    AudienceCheckReport,
};
pub use backtest::{
    BacktestError, BacktestJob, BacktestResult, BacktestStatus, Backtests, Day, InlineBacktest,
    Progress, SampleFiring, Window, KEPT_JOBS, MAX_WINDOW_DAYS, SAMPLE,
};
pub use bus::{BusMessage, UnreadableMessage};
pub use families::{Family, MessageRun, OperationRun};
pub use operations::{Operation, OperationFailed, Operations};
pub use run::{Jobs, Trigger};
pub use schedule::{
    analytics_schedules, job, maintenance_schedules, orchestration_schedules, scheduled, FirstRun,
    JobFuture, RunJob, ScheduledJob, ANALYTICS, AUDIENCE_BACKFILLS, AUDIENCE_CHECKS, SWEEP, TIMERS,
};
pub use stalled::{fail_stalled, Stalled, STALE_AFTER};
pub use stream::{orchestrate_entries, orchestrate_records, BatchOutcome};
pub use sweep::{Maintenance, SweepReport};
pub use timers::{run_timers, TimerReport};

use cjaas_core::ids::TenantId;
use cjaas_core::ports::ConfigStore;
use serde::Serialize;

use crate::failure::{AppError, ErrorKind};

/// One tenant's step that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantFailure {
    pub tenant: TenantId,
    /// Which step: e.g. `retention`, `erasure`, `forwarding`, `analytics`, `timers`.
    pub step: &'static str,
    pub error: String,
}

/// A job over tenants that did not finish everywhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobFailed {
    /// The tenants could not be listed: nothing ran.
    #[error("cannot list tenants: {0}")]
    Tenants(String),
    /// Some tenants failed (the others ran): every failure, by tenant.
    #[error("{job} failed for {}", names(.failures))]
    ForTenants {
        job: &'static str,
        failures: Vec<TenantFailure>,
    },
}

impl AppError for JobFailed {
    /// Transient: the job's next run (or the trigger's retry) does it again.
    fn kind(&self) -> ErrorKind {
        ErrorKind::Unavailable
    }

    /// `{job}_failed`, or `store_unavailable` when the tenants could not be listed.
    fn code(&self) -> &'static str {
        match self {
            JobFailed::Tenants(_) => "store_unavailable",
            JobFailed::ForTenants { job, .. } => match *job {
                "analytics" => "analytics_failed",
                "timers" | "audience_checks" => "timers_failed",
                _ => "maintenance_failed",
            },
        }
    }
}

impl JobFailed {
    /// `Ok(report)` when nothing failed, else the failures named.
    pub(crate) fn check<R>(
        job: &'static str,
        failures: &[TenantFailure],
        report: R,
    ) -> Result<R, JobFailed> {
        if failures.is_empty() {
            return Ok(report);
        }
        Err(JobFailed::ForTenants {
            job,
            failures: failures.to_vec(),
        })
    }
}

fn names(failures: &[TenantFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("{} ({}: {})", f.tenant, f.step, f.error))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tenants a scheduled job covers. A listing that fails is the whole job's
/// failure: there is no tenant to blame.
pub async fn all_tenants(config: &dyn ConfigStore) -> Result<Vec<TenantId>, JobFailed> {
    config.list_tenants().await.map_err(|e| {
        tracing::error!(error = %e, "cannot list tenants");
        JobFailed::Tenants(e.to_string())
    })
}

/// Collects per-tenant failures; logs each one where it happens.
#[derive(Debug, Default)]
pub(crate) struct Failures(Vec<TenantFailure>);

impl Failures {
    /// `Some(value)` on success; on failure records it and gives `None`.
    pub(crate) fn check<T, E: std::fmt::Display>(
        &mut self,
        tenant: &TenantId,
        step: &'static str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::warn!(tenant = %tenant, step, error = %e, "tenant job step failed");
                self.0.push(TenantFailure {
                    tenant: tenant.clone(),
                    step,
                    error: e.to_string(),
                });
                None
            }
        }
    }

    pub(crate) fn into_vec(self) -> Vec<TenantFailure> {
        self.0
    }
}
