//! Audience membership's triggers: events landed on the Tape (after the rules, from
//! the same stream batch), the time-check run (beside the absence timers), and the
//! bus messages that ask for a backfill or report changed alias groups.

use chrono::{DateTime, Utc};
use serde::Serialize;

use cjaas_core::ids::TenantId;
use cjaas_core::ports::StoreError;
use cjaas_core::tape::TapeEntry;

use super::run::to_json;
use super::{all_tenants, BusMessage, Failures, JobFailed, Jobs, TenantFailure};
use crate::audiences::{Membership, MembershipReport};
use crate::failure::Failure;
use crate::wiring::Adapters;

/// Evaluates the persons of a batch already on the Tape. `Err`: retry the batch
/// (no change is made twice).
pub async fn audiences_on_entries(
    membership: &Membership,
    entries: &[TapeEntry],
) -> Result<MembershipReport, StoreError> {
    let report = membership.on_entries(entries).await?;
    if report.entered + report.exited > 0 {
        tracing::info!(
            entered = report.entered,
            exited = report.exited,
            "audience memberships changed"
        );
    }
    Ok(report)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AudienceCheckReport {
    pub entered: u64,
    pub exited: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<TenantFailure>,
}

impl AudienceCheckReport {
    pub fn into_result(self) -> Result<Self, JobFailed> {
        let failures = self.failures.clone();
        JobFailed::check("audience_checks", &failures, self)
    }
}

/// Runs each tenant's due time checks (a window let someone in or out); a failing
/// tenant keeps its checks for the next run and the others go on.
pub async fn run_audience_checks(
    membership: &Membership,
    tenants: &[TenantId],
    now: DateTime<Utc>,
) -> AudienceCheckReport {
    let mut report = AudienceCheckReport::default();
    let mut failures = Failures::default();
    for tenant in tenants {
        let run = membership.run_due_checks(tenant, now).await;
        if let Some(done) = failures.check(tenant, "audience_checks", run) {
            report.entered += done.entered;
            report.exited += done.exited;
        }
    }
    report.failures = failures.into_vec();
    report
}

/// Carries out an audience message from the bus: a backfill, or alias groups to
/// evaluate again. Other messages are not the audiences' and are ignored.
pub async fn run_audience_message(
    membership: &Membership,
    message: &BusMessage,
) -> Result<(), StoreError> {
    match message {
        BusMessage::AudienceBackfillRequested {
            tenant,
            audience,
            version,
        } => {
            let status = membership.backfill(tenant, audience, *version).await?;
            tracing::info!(tenant = %tenant, audience, state = ?status.state, "audience backfill ran");
        }
        BusMessage::AliasesChanged { tenant, persons } => {
            membership.on_aliases(tenant, persons).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Runs every backfill that was asked for and never finished, tenant by tenant (at
/// start, and with each maintenance sweep).
pub async fn resume_backfills(
    membership: &Membership,
    tenants: &[TenantId],
) -> AudienceCheckReport {
    let mut report = AudienceCheckReport::default();
    let mut failures = Failures::default();
    for tenant in tenants {
        let unfinished = membership.unfinished_backfills(tenant).await;
        let Some(unfinished) = failures.check(tenant, "audience_backfill", unfinished) else {
            continue;
        };
        for (audience, version) in unfinished {
            let run = membership.backfill(tenant, &audience, version).await;
            if let Some(status) = failures.check(tenant, "audience_backfill", run) {
                report.entered += status.entered;
                report.exited += status.exited;
            }
        }
    }
    report.failures = failures.into_vec();
    report
}

/// The `audience_checks` schedule: every tenant's due time checks.
pub(super) async fn scheduled_checks<A: Adapters>(
    jobs: &Jobs<A>,
    at: DateTime<Utc>,
) -> Result<serde_json::Value, Failure> {
    let tenants = all_tenants(jobs.config()?.as_ref()).await?;
    let report = run_audience_checks(&*jobs.membership()?, &tenants, at).await;
    Ok(to_json(report.into_result()?))
}

/// The `audience_backfills` schedule (locally also at start): the unfinished ones.
pub(super) async fn scheduled_backfills<A: Adapters>(
    jobs: &Jobs<A>,
) -> Result<serde_json::Value, Failure> {
    let tenants = all_tenants(jobs.config()?.as_ref()).await?;
    let report = resume_backfills(&*jobs.membership()?, &tenants).await;
    Ok(to_json(report.into_result()?))
}
