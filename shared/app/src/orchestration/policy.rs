//! The tenant's orchestration policy: caps across all its rules (at most N actions
//! per person per period, optionally of one channel). `GET/PUT
//! /v1/orchestration/policy`; read by each firing and by backtests.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use cjaas_core::ids::TenantId;
use cjaas_core::ports::{DocumentStore, Expect, StoreError};
use cjaas_core::rules::caps::{compile_caps, Cap, CapSpec};

use crate::documents::{decode, encode};

use super::RuleError;

/// What a tenant writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDefinition {
    #[serde(default)]
    pub caps: Vec<CapSpec>,
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
        tracing::info!(tenant = %tenant, caps = policy.definition.caps.len(), "orchestration policy updated");
        Ok(policy)
    }

    /// The tenant's caps, compiled (a stored policy was valid when written).
    pub async fn caps(&self, tenant: &TenantId) -> Result<Vec<Cap>, StoreError> {
        let policy = self.get(tenant).await?;
        Ok(compile_caps(
            &policy.definition.caps,
            "caps",
            false,
            &mut Vec::new(),
        ))
    }
}
