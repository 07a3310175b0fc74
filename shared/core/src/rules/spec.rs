//! A rule as tenants write it: its conditions and actions, as JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::caps::CapSpec;
use crate::view::EventFilter;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ConditionSpec {
    All(Vec<ConditionSpec>),
    Any(Vec<ConditionSpec>),
    Not(Box<ConditionSpec>),
    /// The incoming event matches.
    Event(EventFilter),
    /// At least `at_least` of the person's events match within `within` before (and
    /// including) the incoming event.
    Count(CountSpec),
    /// An `after` event and no `missing` event within `within` of it.
    Absence(AbsenceSpec),
    /// An attribute of the person's profile, folded with a stored view.
    Profile(ProfileSpec),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountSpec {
    pub of: EventFilter,
    pub at_least: u32,
    pub within: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbsenceSpec {
    pub after: EventFilter,
    pub missing: EventFilter,
    pub within: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    pub view: String,
    pub attribute: String,
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// What a match does. Every action is published on the CJaaS bus; `webhook`,
/// `recommendation` and `enrichment` are also carried out by CJaaS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionSpec {
    /// A signed POST to the tenant's endpoint.
    Webhook {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<Value>,
    },
    /// A next-best-action suggestion, appended to the person's Tape as an event.
    Recommendation {
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<Value>,
    },
    /// The tenant's endpoint receives the event and may return fields, appended as a
    /// separate event.
    Enrichment { url: String },
    /// Only published, for the tenant's own consumers (a bot, a survey, an offer, a
    /// hand-off to a human…).
    Publish {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<Value>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDefinition {
    pub name: String,
    #[serde(default = "active")]
    pub active: bool,
    pub when: ConditionSpec,
    #[serde(default)]
    pub cooldown_seconds: u64,
    /// At most `max` firings per person per period (see [`super::caps`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<CapSpec>,
    pub actions: Vec<ActionSpec>,
}

impl ActionSpec {
    /// The action's type, which the tenant's caps call its channel.
    pub fn channel(&self) -> &'static str {
        match self {
            ActionSpec::Webhook { .. } => "webhook",
            ActionSpec::Recommendation { .. } => "recommendation",
            ActionSpec::Enrichment { .. } => "enrichment",
            ActionSpec::Publish { .. } => "publish",
        }
    }
}

fn active() -> bool {
    true
}
