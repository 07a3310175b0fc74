//! Orchestration: tenants' rules evaluated on every event once it is on the Tape, and
//! on absence timers; a match publishes one action event per action on the CJaaS bus.
//!
//! - **Exactly one firing per (rule, event).** A `fired` mark is claimed with a
//!   conditional write before anything is published, so a replayed or redelivered
//!   event never fires again. A mark whose publishing failed is published again on
//!   the retry, with the same action ids (at least once on the bus, deduplicable).
//! - **Cooldown and caps per person under concurrency.** Firing takes from the
//!   person's ledger (its cooldowns and cap counters) with one conditional write; of
//!   concurrent firings only those that fit win, and a capped one is recorded in the
//!   delivery log as `capped` (see `caps`).
//! - **Quiet hours.** Just before publishing, a firing inside the person's quiet
//!   hours is held (published by the `timers` job when they end) or dropped, as the
//!   rule chooses (`quiet.rs`).
//! - **No loops.** Events CJaaS itself appends (source `cjaas://…`, e.g.
//!   recommendations) are not evaluated, except live audience membership changes
//!   (`cjaas://audiences/{id}`, see `crate::audiences`).

mod caps;
mod evaluate;
mod policy;
mod quiet;
mod rules;
mod timers;

pub use evaluate::{OrchestrationReport, Orchestrator};
pub use policy::{CompiledPolicy, Policies, Policy, PolicyDefinition};
pub use quiet::CLAIM_LEASE_SECONDS;
pub use rules::{webhook_secret, Rules};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use cjaas_core::ports::StoreError;
use cjaas_core::problem::FieldProblem;
use cjaas_core::rules::ActionSpec;

use crate::failure::{problems, AppError, ErrorKind};

/// Sources of events CJaaS appends itself; rules never see them.
pub const OWN_SOURCE_PREFIX: &str = "cjaas://";
pub const MAX_RULES: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("the rule is invalid; nothing was stored")]
    Invalid(Vec<FieldProblem>),
    #[error("no rule {0}")]
    NotFound(String),
    #[error("a tenant has at most {MAX_RULES} rules")]
    TooMany,
    #[error("a concurrent change won; read the current state and try again")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RuleError {
    pub fn code(&self) -> &'static str {
        match self {
            RuleError::Invalid(_) => "invalid_rule",
            RuleError::NotFound(_) => "rule_not_found",
            RuleError::TooMany => "too_many_rules",
            RuleError::Conflict => "conflict",
            RuleError::Store(_) => "store_unavailable",
        }
    }
}

impl AppError for RuleError {
    fn kind(&self) -> ErrorKind {
        match self {
            RuleError::Invalid(_) => ErrorKind::Invalid,
            RuleError::NotFound(_) => ErrorKind::NotFound,
            RuleError::TooMany | RuleError::Conflict => ErrorKind::Conflict,
            RuleError::Store(e) => e.kind(),
        }
    }
    fn code(&self) -> &'static str {
        RuleError::code(self)
    }
    fn problems(&self) -> Option<serde_json::Value> {
        match self {
            RuleError::Invalid(items) => problems(items),
            _ => None,
        }
    }
    fn wraps(&self) -> Option<&dyn AppError> {
        match self {
            RuleError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// What the bus carries for one action of one firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionEvent {
    /// Stable across retries: `{rule}.{event hash}.{action index}`.
    pub action_id: String,
    pub tenant: String,
    pub person: String,
    pub rule: RuleRef,
    pub fired_at: DateTime<Utc>,
    /// The CloudEvent that triggered the rule (for absence: the `after` event).
    pub triggering_event: Value,
    pub action: ActionSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRef {
    pub id: String,
    pub name: String,
}
