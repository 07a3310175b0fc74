//! The tenant's orchestration policy: caps across all its rules (at most N actions
//! per person per period, optionally of one channel) and quiet hours (see
//! `cjaas_core::rules::quiet`). `GET/PUT /v1/orchestration/policy`; read by each
//! firing and by backtests.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use cjaas_core::ids::TenantId;
use cjaas_core::ports::{DocumentStore, Expect, StoreError};
use cjaas_core::problem::FieldProblem;
use cjaas_core::rules::caps::{compile_caps, Cap, CapSpec};
use cjaas_core::rules::quiet::{compile_quiet_hours, QuietHours, QuietHoursSpec};

use crate::documents::{decode, encode};
use crate::profiles::Views;

use super::RuleError;

/// What a tenant writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDefinition {
    #[serde(default)]
    pub caps: Vec<CapSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHoursSpec>,
}

/// A tenant's policy as the orchestrator applies it.
#[derive(Debug, Default)]
pub struct CompiledPolicy {
    pub caps: Vec<Cap>,
    pub quiet_hours: Option<QuietHours>,
}

/// The stored policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    #[serde(flatten)]
    pub definition: PolicyDefinition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// `T#{tenant}#RPOLICY` / `policy`.
fn key(tenant: &TenantId) -> (String, &'static str) {
    (format!("T#{tenant}#RPOLICY"), "policy")
}

#[derive(Clone)]
pub struct Policies {
    docs: Arc<dyn DocumentStore>,
}

impl Policies {
    pub fn new(docs: Arc<dyn DocumentStore>) -> Self {
        Self { docs }
    }

    /// The tenant's policy; no caps until one is written.
    pub async fn get(&self, tenant: &TenantId) -> Result<Policy, StoreError> {
        let (pk, sk) = key(tenant);
        match self.docs.get(&pk, sk).await? {
            Some(document) => decode(&document.body),
            None => Ok(Policy::default()),
        }
    }

    /// Replaces the policy; an invalid one changes nothing.
    pub async fn put(
        &self,
        tenant: &TenantId,
        definition: PolicyDefinition,
    ) -> Result<Policy, RuleError> {
        let mut problems = Vec::new();
        compile_caps(&definition.caps, "caps", false, &mut problems);
        if let Some(quiet) = &definition.quiet_hours {
            self.check_quiet_hours(tenant, quiet, &mut problems).await?;
        }
        if !problems.is_empty() {
            return Err(RuleError::Invalid(problems));
        }
        let policy = Policy {
            definition,
            updated_at: Some(Utc::now()),
        };
        let (pk, sk) = key(tenant);
        self.docs
            .put(&pk, sk, &encode(&policy), Expect::Anything)
            .await?;
        tracing::info!(
            tenant = %tenant,
            caps = policy.definition.caps.len(),
            quiet_hours = policy.definition.quiet_hours.is_some(),
            "orchestration policy updated"
        );
        Ok(policy)
    }

    /// The tenant's caps and quiet hours, compiled (a stored policy was valid when
    /// written): read once per firing.
    pub async fn compiled(&self, tenant: &TenantId) -> Result<CompiledPolicy, StoreError> {
        let definition = self.get(tenant).await?.definition;
        Ok(CompiledPolicy {
            caps: compile_caps(&definition.caps, "caps", false, &mut Vec::new()),
            quiet_hours: definition
                .quiet_hours
                .and_then(|spec| compile_quiet_hours(&spec, "quiet_hours", &mut Vec::new())),
        })
    }

    /// Validates quiet hours, and that the view of their zone attribute exists.
    async fn check_quiet_hours(
        &self,
        tenant: &TenantId,
        spec: &QuietHoursSpec,
        problems: &mut Vec<FieldProblem>,
    ) -> Result<(), StoreError> {
        if compile_quiet_hours(spec, "quiet_hours", problems).is_none() {
            return Ok(());
        }
        let Some(zone) = &spec.time_zone else {
            return Ok(());
        };
        let views = Views::new(self.docs.clone());
        for mut problem in views.unknown_in_condition(tenant, [&zone.view]).await? {
            problem.field = "quiet_hours/time_zone/view".into();
            problems.push(problem);
        }
        Ok(())
    }
}
