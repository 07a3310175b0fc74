//! Caps: at most `max` firings of a rule, or actions across all the tenant's rules
//! (optionally of one channel, the action type), per person per period.
//!
//! Periods are fixed buckets of event time aligned to the Unix epoch (`1d` counts
//! UTC days, `1h` clock hours), so a cap's state is one counter per person and
//! bucket, which a store can claim atomically. A firing is capped as a whole when
//! one of its caps has no room for it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::problem::FieldProblem;
use crate::view::parse_window;

/// The longest cap period.
pub const MAX_CAP_DAYS: i64 = 30;
/// Caps per rule and per tenant policy.
pub const MAX_CAPS: usize = 5;

/// One cap as written: `{"max": 3, "per": "1d"}`, for a policy optionally with
/// `"channel": "webhook"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapSpec {
    pub max: u32,
    pub per: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// A compiled cap. `rule: true` counts the rule's firings; otherwise actions (of
/// `channel`, or all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cap {
    /// A stable name for its counter: `r{i}` (rule) or `t{i}` (tenant).
    pub key: String,
    pub max: u32,
    pub per: Duration,
    pub channel: Option<String>,
    pub rule: bool,
}

/// The caps that apply to one rule's firings: its own and the tenant's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caps(pub Vec<Cap>);

const CHANNELS: [&str; 4] = ["webhook", "recommendation", "enrichment", "publish"];

/// Validates caps at `field` (`caps` or `policy/caps`); `rule` for a rule's own.
pub fn compile_caps(
    specs: &[CapSpec],
    field: &str,
    rule: bool,
    problems: &mut Vec<FieldProblem>,
) -> Vec<Cap> {
    let mut problem = |field: String, code, detail: String| {
        problems.push(FieldProblem {
            field,
            code,
            detail,
        })
    };
    if specs.len() > MAX_CAPS {
        problem(
            field.to_owned(),
            "too_many_caps",
            format!("at most {MAX_CAPS} caps"),
        );
    }
    let mut caps = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let at = format!("{field}/{i}");
        let per = parse_window(&spec.per).filter(|p| *p <= Duration::days(MAX_CAP_DAYS));
        if per.is_none() {
            problem(
                format!("{at}/per"),
                "invalid_period",
                format!(
                    "{:?} is not a period like 1h or 1d (at most {MAX_CAP_DAYS}d)",
                    spec.per
                ),
            );
        }
        if spec.max == 0 {
            problem(
                format!("{at}/max"),
                "invalid_cap",
                "max is 1 or more".into(),
            );
        }
        match &spec.channel {
            Some(_) if rule => problem(
                format!("{at}/channel"),
                "invalid_cap",
                "a rule's cap counts its firings; channels are for the tenant policy".into(),
            ),
            Some(c) if !CHANNELS.contains(&c.as_str()) => problem(
                format!("{at}/channel"),
                "invalid_channel",
                format!("{c:?} is not one of: {}", CHANNELS.join(", ")),
            ),
            _ => {}
        }
        caps.push(Cap {
            key: format!("{}{i}", if rule { 'r' } else { 't' }),
            max: spec.max,
            per: per.unwrap_or_else(|| Duration::days(1)),
            channel: spec.channel.clone(),
            rule,
        });
    }
    caps
}

impl Cap {
    /// The bucket of event time `time` falls in: its start.
    pub fn bucket(&self, time: DateTime<Utc>) -> DateTime<Utc> {
        let per = self.per.num_seconds().max(1);
        let start = time.timestamp().div_euclid(per) * per;
        DateTime::from_timestamp(start, 0).unwrap_or(time)
    }

    /// How much one firing with these action types takes from the cap.
    pub fn cost(&self, actions: &[&str]) -> u32 {
        if self.rule {
            return 1;
        }
        actions
            .iter()
            .filter(|a| self.channel.as_deref().is_none_or(|c| c == **a))
            .count() as u32
    }
}

/// The counters of one person, in memory (the replay's; the orchestrator keeps them
/// in the store).
#[derive(Debug, Default)]
pub struct CapLedger(BTreeMap<(String, DateTime<Utc>), u32>);

impl CapLedger {
    /// Takes room for one firing at `time` from every cap, or nothing if one has
    /// no room: `false` then (capped).
    pub fn take(&mut self, caps: &Caps, time: DateTime<Utc>, actions: &[&str]) -> bool {
        let wanted: Vec<_> = caps
            .0
            .iter()
            .map(|cap| {
                (
                    (cap.key.clone(), cap.bucket(time)),
                    cap.cost(actions),
                    cap.max,
                )
            })
            .collect();
        let fits = wanted
            .iter()
            .all(|(key, cost, max)| self.0.get(key).copied().unwrap_or(0) + cost <= *max);
        if fits {
            for (key, cost, _) in wanted {
                *self.0.entry(key).or_default() += cost;
            }
        }
        fits
    }
}
