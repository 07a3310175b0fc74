//! The maintenance sweep (daily in AWS, hourly locally) and the erasure job a bus
//! message asks for.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

use cjaas_core::erasure::ErasureJob;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{ConfigStore, TapeStore};

use super::run::to_json;
use super::{all_tenants, Failures, JobFailed, Jobs, TenantFailure};
use crate::archive::ArchiveRetention;
use crate::erasure::{ErasureError, Erasures};
use crate::failure::Failure;
use crate::forwarding::Forwarding;
use crate::wiring::Adapters;

/// What the sweep acts on.
pub struct Maintenance {
    pub erasures: Arc<Erasures>,
    pub retention: Arc<ArchiveRetention>,
    pub forwarding: Arc<Forwarding>,
    pub config: Arc<dyn ConfigStore>,
    /// Its expired entries go first, where the store has no TTL of its own.
    pub tape: Arc<dyn TapeStore>,
}

/// What one sweep did, over every tenant it reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Tape entries past their retention removed (embedded store; DynamoDB's TTL
    /// removes them in AWS).
    #[serde(skip_serializing_if = "is_zero")]
    pub tape_entries_expired: u64,
    pub erasures_run: usize,
    pub archive_objects_deleted: usize,
    pub forwarding_retries_delivered: usize,
    /// Steps that failed, by tenant; the other tenants and steps ran.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<TenantFailure>,
}

impl SweepReport {
    /// `Err` naming every failed tenant, or the report.
    pub fn into_result(self) -> Result<Self, JobFailed> {
        let failures = self.failures.clone();
        JobFailed::check("maintenance", &failures, self)
    }
}

impl Maintenance {
    /// The Tape's expired entries, then every tenant's sweep.
    pub async fn sweep_all(&self, now: DateTime<Utc>) -> Result<SweepReport, JobFailed> {
        // Store-wide, not a tenant's step: a failure is logged; the next sweep tries again.
        let expired = self.tape.expire(now).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "expiry sweep failed");
            0
        });
        if expired > 0 {
            tracing::info!(entries = expired, "expired Tape entries removed");
        }
        let mut report = self
            .sweep(&all_tenants(self.config.as_ref()).await?, now)
            .await;
        report.tape_entries_expired = expired;
        Ok(report)
    }

    /// For each tenant: its pending erasures (expired tombstones pruned first), the
    /// archive's retention, and failed forwarding deliveries retried. A failing step
    /// is reported and the sweep goes on.
    pub async fn sweep(&self, tenants: &[TenantId], now: DateTime<Utc>) -> SweepReport {
        let mut report = SweepReport::default();
        let mut failures = Failures::default();
        for tenant in tenants {
            let pending = self.erasures.pending(tenant).await;
            for job in failures
                .check(tenant, "erasure", pending)
                .unwrap_or_default()
            {
                let run = self.erasures.run(tenant, &job).await;
                if failures.check(tenant, "erasure", run).is_some() {
                    report.erasures_run += 1;
                }
            }
            let swept = self.retention.sweep(tenant, now).await;
            if let Some(swept) = failures.check(tenant, "retention", swept) {
                report.archive_objects_deleted += swept.objects_deleted;
            }
            let retried = self.forwarding.retry_pending(tenant).await;
            if let Some(delivered) = failures.check(tenant, "forwarding", retried) {
                report.forwarding_retries_delivered += delivered;
            }
        }
        report.failures = failures.into_vec();
        report
    }

    /// The erasure job a bus message names. A failure leaves it pending: the next
    /// sweep runs it again.
    pub async fn erase(&self, tenant: &TenantId, job: &str) -> Result<ErasureJob, ErasureError> {
        self.erasures.run(tenant, job).await.inspect_err(|e| {
            tracing::warn!(tenant = %tenant, job, error = %e, "erasure failed; the sweep retries it");
        })
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The `sweep` schedule.
pub(super) async fn scheduled<A: Adapters>(
    jobs: &Jobs<A>,
    at: DateTime<Utc>,
) -> Result<serde_json::Value, Failure> {
    let report = jobs.maintenance()?.sweep_all(at).await?;
    Ok(to_json(report.into_result()?))
}
