//! The absence timers' run: every few seconds locally, on a schedule in AWS.

use chrono::{DateTime, Utc};
use serde::Serialize;

use cjaas_core::ids::TenantId;

use super::run::to_json;
use super::{all_tenants, Failures, JobFailed, Jobs, TenantFailure};
use crate::failure::Failure;
use crate::orchestration::Orchestrator;
use crate::wiring::Adapters;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TimerReport {
    pub timers_fired: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<TenantFailure>,
}

impl TimerReport {
    pub fn into_result(self) -> Result<Self, JobFailed> {
        let failures = self.failures.clone();
        JobFailed::check("timers", &failures, self)
    }
}

/// Fires each tenant's due absence timers; a failing tenant is reported (its timers
/// stay due for the next run) and the others go on.
pub async fn run_timers(
    orchestrator: &Orchestrator,
    tenants: &[TenantId],
    now: DateTime<Utc>,
) -> TimerReport {
    let mut report = TimerReport::default();
    let mut failures = Failures::default();
    for tenant in tenants {
        let run = orchestrator.run_due_timers(tenant, now).await;
        if let Some(done) = failures.check(tenant, "timers", run) {
            report.timers_fired += done.fired;
        }
    }
    report.failures = failures.into_vec();
    report
}

/// The `timers` schedule: every tenant's due timers.
pub(super) async fn scheduled<A: Adapters>(
    jobs: &Jobs<A>,
    at: DateTime<Utc>,
) -> Result<serde_json::Value, Failure> {
    let tenants = all_tenants(jobs.config()?.as_ref()).await?;
    let report = run_timers(&*jobs.orchestrator()?, &tenants, at).await;
    Ok(to_json(report.into_result()?))
}
