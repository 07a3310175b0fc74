//! Orchestration rules: conditions over the incoming event, the person's recent
//! events and their profile, and the actions a match triggers.
//!
//! ```json
//! {"name": "pricing hesitation", "cooldown_seconds": 3600,
//!  "when": {"all": [
//!     {"event": {"type": "page.viewed", "where": {"field": "/data/path", "op": "eq", "value": "/pricing"}}},
//!     {"count": {"of": {"type": "page.viewed"}, "at_least": 3, "within": "10m"}},
//!     {"not": {"profile": {"view": "view-…", "attribute": "orders", "op": "gt", "value": 0}}}]},
//!  "actions": [{"type": "webhook", "url": "https://bots.example.com/hook"}]}
//! ```
//!
//! An `absence` condition ("added to cart and no purchase within 30m") makes the rule
//! wait: its `after` event starts a timer, and when the timer is due the rule holds if
//! no `missing` event came in between and the rest of its conditions hold for the
//! `after` event. Absence may appear once, at the top or directly under a top `all`.
//!
//! The code: [`spec`] (the JSON), `compile` (validation), `eval` (compiled rules
//! and their evaluation), `filters` (each distinct filter matched once per event) and
//! [`RuleSet`] (a tenant's rules evaluated together).

pub mod caps;
mod compile;
mod eval;
mod filters;
pub mod replay;
mod set;
pub mod spec;

pub use eval::{Absence, CompiledRule, Facts, Seen, Verdict};
pub use set::RuleSet;
pub use spec::{AbsenceSpec, ActionSpec, ConditionSpec, CountSpec, ProfileSpec, RuleDefinition};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const MAX_ACTIONS: usize = 10;
pub const MAX_NODES: usize = 32;
pub const MAX_DEPTH: usize = 8;
pub const MAX_LOOKBACK_DAYS: i64 = 30;
pub const MAX_COOLDOWN_SECONDS: u64 = 90 * 86_400;

#[cfg(test)]
mod tests;

/// Where orchestration keeps its documents (all under the tenant):
///
/// | document          | `pk`                       | `sk`                                  |
/// |-------------------|----------------------------|---------------------------------------|
/// | rule              | `T#{tenant}#RULES`         | `{rule id}`                           |
/// | fired (replays)   | `T#{tenant}#RFIRED#{rule}` | `{event hash}`                        |
/// | cooldown          | `T#{tenant}#RCOOL#{rule}`  | `{person}`                            |
/// | absence timer     | `T#{tenant}#RTIMERS`       | `{due time}#{rule}#{event hash}`      |
/// | webhook secret    | `T#{tenant}#RULES`         | `~SECRET` (sorts after every rule id) |
/// | rule count (AWS)  | `T#{tenant}#RULES#COUNT`   | `rule-` (see `ports::Limit`)          |
pub mod keys {
    use crate::ids::TenantId;

    pub fn rules(tenant: &TenantId) -> String {
        format!("T#{tenant}#RULES")
    }
    pub const WEBHOOK_SECRET: &str = "~SECRET";
    pub fn fired(tenant: &TenantId, rule: &str) -> String {
        format!("T#{tenant}#RFIRED#{rule}")
    }
    pub fn cooldowns(tenant: &TenantId, rule: &str) -> String {
        format!("T#{tenant}#RCOOL#{rule}")
    }
    pub fn timers(tenant: &TenantId) -> String {
        format!("T#{tenant}#RTIMERS")
    }
    pub fn timer(due: chrono::DateTime<chrono::Utc>, rule: &str, event_hash: &str) -> String {
        format!("{}#{rule}#{event_hash}", crate::tape::time_key(due))
    }
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRule {
    pub id: String,
    #[serde(flatten)]
    pub definition: RuleDefinition,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Every rule id starts with this (the tenant's rule limit counts them).
pub const RULE_ID_PREFIX: &str = "rule-";

pub fn new_rule_id() -> String {
    crate::resource_id::ResourceKind::Rule.new_id()
}
