//! The analytics run: every tenant on a schedule, one tenant on its request.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

use cjaas_core::ids::TenantId;
use cjaas_core::ports::ConfigStore;

use super::run::to_json;
use super::{all_tenants, Failures, JobFailed, Jobs, TenantFailure};
use crate::analytics::{Analytics, RunSummary};
use crate::failure::{AppError, ErrorKind, Failure};
use crate::wiring::Adapters;

pub struct AnalyticsJob {
    pub analytics: Arc<Analytics>,
    pub config: Arc<dyn ConfigStore>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantRun {
    pub tenant: TenantId,
    pub summary: RunSummary,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AnalyticsRuns {
    pub runs: Vec<TenantRun>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<TenantFailure>,
}

impl AnalyticsRuns {
    pub fn into_result(self) -> Result<Self, JobFailed> {
        let failures = self.failures.clone();
        JobFailed::check("analytics", &failures, self)
    }
}

/// A run request for a tenant that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("no tenant {0}")]
pub struct UnknownTenant(pub TenantId);

impl AppError for UnknownTenant {
    fn kind(&self) -> ErrorKind {
        ErrorKind::NotFound
    }
    fn code(&self) -> &'static str {
        "unknown_tenant"
    }
}

impl AnalyticsJob {
    pub async fn run_all(&self, now: DateTime<Utc>) -> Result<AnalyticsRuns, JobFailed> {
        Ok(self
            .run(&all_tenants(self.config.as_ref()).await?, now)
            .await)
    }

    /// A tenant's on-demand run; refused for a tenant that does not exist.
    pub async fn run_requested(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<AnalyticsRuns, UnknownTenant> {
        if self
            .config
            .get_tenant(tenant)
            .await
            .ok()
            .flatten()
            .is_none()
        {
            return Err(UnknownTenant(tenant.clone()));
        }
        Ok(self.run(std::slice::from_ref(tenant), now).await)
    }

    /// Runs each tenant; a failing tenant is reported and the others go on.
    pub async fn run(&self, tenants: &[TenantId], now: DateTime<Utc>) -> AnalyticsRuns {
        let mut runs = AnalyticsRuns::default();
        let mut failures = Failures::default();
        for tenant in tenants {
            let run = self.analytics.run(tenant, now).await;
            if let Some(summary) = failures.check(tenant, "analytics", run) {
                runs.runs.push(TenantRun {
                    tenant: tenant.clone(),
                    summary,
                });
            }
        }
        runs.failures = failures.into_vec();
        runs
    }
}

/// The `analytics` schedule: every tenant.
pub(super) async fn scheduled<A: Adapters>(
    jobs: &Jobs<A>,
    at: DateTime<Utc>,
) -> Result<serde_json::Value, Failure> {
    let runs = jobs.analytics()?.run_all(at).await?;
    Ok(to_json(runs.into_result()?))
}
