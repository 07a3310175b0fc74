//! Rules: created, listed, updated and deleted, validated against the views they
//! read and the target policy.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use cjaas_core::ids::TenantId;
use cjaas_core::ports::{DocumentStore, Expect, Limit, LimitedOutcome, LimitedWrite, StoreError};
use cjaas_core::rules::{keys, new_rule_id, RuleDefinition, StoredRule, RULE_ID_PREFIX};
use cjaas_core::target::TargetPolicy;

use crate::deliveries::DeliveryLog;
use crate::documents::{decode, encode};
use crate::profiles::Views;

use super::{RuleError, MAX_RULES};

pub struct Rules {
    docs: Arc<dyn DocumentStore>,
    views: Views,
    targets: TargetPolicy,
}

/// The tenant's rules, counted against [`MAX_RULES`].
fn rules_limit(tenant: &TenantId) -> Limit {
    Limit {
        pk: keys::rules(tenant),
        prefix: RULE_ID_PREFIX,
        max: MAX_RULES,
    }
}

impl Rules {
    /// Rules whose webhook and enrichment URLs must be public targets.
    pub fn new(docs: Arc<dyn DocumentStore>) -> Self {
        Self::with_targets(docs, TargetPolicy::public_only())
    }

    /// Rules whose URLs `targets` allows (see `cjaas_core::target`).
    pub fn with_targets(docs: Arc<dyn DocumentStore>, targets: TargetPolicy) -> Self {
        let views = Views::new(docs.clone());
        Self {
            docs,
            views,
            targets,
        }
    }

    /// Compiles the rule, checks its action URLs against the target policy and that
    /// the views it reads exist.
    async fn validate(
        &self,
        tenant: &TenantId,
        definition: &RuleDefinition,
    ) -> Result<(), RuleError> {
        let targets = definition.target_problems(&self.targets);
        if let Err(RuleError::Invalid(mut problems)) = self.check_form(tenant, definition).await {
            problems.extend(targets);
            return Err(RuleError::Invalid(problems));
        }
        if !targets.is_empty() {
            return Err(RuleError::Invalid(targets));
        }
        Ok(())
    }

    /// Compiles the rule and checks that the views it reads exist (not its targets).
    pub(crate) async fn check_form(
        &self,
        tenant: &TenantId,
        definition: &RuleDefinition,
    ) -> Result<(), RuleError> {
        let compiled = definition.compile().map_err(RuleError::Invalid)?;
        let problems = self
            .views
            .unknown_in_condition(tenant, &compiled.views)
            .await?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RuleError::Invalid(problems))
        }
    }

    pub async fn create(
        &self,
        tenant: &TenantId,
        definition: RuleDefinition,
    ) -> Result<StoredRule, RuleError> {
        self.validate(tenant, &definition).await?;
        let now = Utc::now();
        let rule = StoredRule {
            id: new_rule_id(),
            definition,
            created_at: now,
            updated_at: now,
        };
        let body = encode(&rule);
        let create = LimitedWrite::Create {
            sk: &rule.id,
            body: &body,
        };
        match self
            .docs
            .write_limited(&rules_limit(tenant), create)
            .await?
        {
            LimitedOutcome::Done => Ok(rule),
            LimitedOutcome::LimitReached => Err(RuleError::TooMany),
            LimitedOutcome::Unchanged => Err(RuleError::Conflict),
        }
    }

    async fn stored(&self, tenant: &TenantId, id: &str) -> Result<(StoredRule, u64), RuleError> {
        if !cjaas_core::resource_id::valid(id) {
            return Err(RuleError::NotFound(id.to_owned()));
        }
        let document = self
            .docs
            .get(&keys::rules(tenant), id)
            .await?
            .ok_or_else(|| RuleError::NotFound(id.to_owned()))?;
        Ok((decode(&document.body)?, document.revision))
    }

    pub async fn get(&self, tenant: &TenantId, id: &str) -> Result<StoredRule, RuleError> {
        Ok(self.stored(tenant, id).await?.0)
    }

    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<StoredRule>, RuleError> {
        let mut rules = Vec::new();
        for (sk, document) in self.docs.list(&keys::rules(tenant)).await? {
            if sk != keys::WEBHOOK_SECRET {
                rules.push(decode(&document.body)?);
            }
        }
        Ok(rules)
    }

    pub async fn update(
        &self,
        tenant: &TenantId,
        id: &str,
        definition: RuleDefinition,
    ) -> Result<StoredRule, RuleError> {
        self.validate(tenant, &definition).await?;
        let (mut rule, revision) = self.stored(tenant, id).await?;
        rule.definition = definition;
        rule.updated_at = Utc::now();
        if !self
            .docs
            .put(
                &keys::rules(tenant),
                id,
                &encode(&rule),
                Expect::Revision(revision),
            )
            .await?
        {
            return Err(RuleError::Conflict);
        }
        Ok(rule)
    }

    pub async fn delete(&self, tenant: &TenantId, id: &str) -> Result<(), RuleError> {
        self.stored(tenant, id).await?;
        // The log first: if that fails, the rule is still there to delete again.
        DeliveryLog::new(self.docs.clone())
            .forget_rule(tenant, id)
            .await?;
        let delete = LimitedWrite::Delete { sk: id };
        match self
            .docs
            .write_limited(&rules_limit(tenant), delete)
            .await?
        {
            LimitedOutcome::Unchanged => Err(RuleError::NotFound(id.to_owned())),
            _ => Ok(()),
        }
    }

    /// The tenant's secret for signing webhooks and enrichment calls, made on first use.
    pub async fn webhook_secret(&self, tenant: &TenantId) -> Result<String, StoreError> {
        webhook_secret(self.docs.as_ref(), tenant).await
    }
}

#[derive(Serialize, Deserialize)]
struct Secret {
    secret: String,
}

/// The tenant's webhook signing secret; the first caller makes it, concurrent callers
/// agree on one.
pub async fn webhook_secret(
    docs: &dyn DocumentStore,
    tenant: &TenantId,
) -> Result<String, StoreError> {
    let pk = keys::rules(tenant);
    if let Some(document) = docs.get(&pk, keys::WEBHOOK_SECRET).await? {
        return Ok(decode::<Secret>(&document.body)?.secret);
    }
    use rand::Rng;
    let bytes: [u8; 32] = rand::thread_rng().gen();
    let secret = Secret {
        secret: format!("whsec_{}", hex::encode(bytes)),
    };
    docs.put(&pk, keys::WEBHOOK_SECRET, &encode(&secret), Expect::Absent)
        .await?;
    let document = docs
        .get(&pk, keys::WEBHOOK_SECRET)
        .await?
        .ok_or_else(|| StoreError::Transient("webhook secret vanished".into()))?;
    Ok(decode::<Secret>(&document.body)?.secret)
}
