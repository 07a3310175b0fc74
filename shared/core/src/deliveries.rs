//! The per-rule delivery log: each firing of a rule, with each of its actions, each
//! action's attempts, status and latency.
//!
//! - **Where it lives.** Documents under one partition per tenant,
//!   `T#{tenant}#DELIVERIES`, sort key `{rule}#{inverted µs of fired_at}#{event hash}`:
//!   a rule's firings are one key range, newest first.
//! - **Who writes.** The orchestrator records the firing before publishing its
//!   actions (status `pending`), then marks them `published`; the actions runner
//!   records each action's attempts and final status. A firing a cap held back is
//!   recorded once, its actions `capped`, and never published.
//! - **Bounded.** Firings older than [`RETENTION_DAYS`] are never shown, and each new
//!   firing of the rule deletes up to [`PRUNE_PER_FIRING`] of them.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::TenantId;
use crate::tape::ParamProblem;

/// How long firings are kept.
pub const RETENTION_DAYS: i64 = 7;
/// Expired firings deleted by each new firing of the same rule.
pub const PRUNE_PER_FIRING: usize = 25;
pub const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 100;
/// The longest error text kept per attempt.
pub const MAX_ERROR_CHARS: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Recorded; not yet on the bus.
    Pending,
    /// On the bus. Final for `publish` actions.
    Published,
    /// The tenant's URL took the call.
    Delivered,
    /// Appended to the person's Tape (recommendations, enrichment answers).
    Appended,
    /// Could not be carried out nor dead-lettered; the actions function retries it.
    Failed,
    /// Undeliverable: kept in the dead letters (`GET /v1/dead-letters`).
    DeadLettered,
    /// Held back by a cap (the firing's `cap`): never published. Final.
    Capped,
    /// Fired in the person's quiet hours: published when they end
    /// (`quiet_hours.release_at` of the firing), then `published`.
    Held,
    /// Fired in the person's quiet hours, and the rule drops such firings (or it
    /// was no longer active when they ended): never published.
    Dropped,
}

/// One try at carrying out an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1-based, counted across redrives.
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub latency_ms: u64,
    pub ok: bool,
    /// Why it failed (e.g. `the endpoint answered 503 Service Unavailable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Attempt {
    pub fn new(
        attempt: u32,
        started_at: DateTime<Utc>,
        latency_ms: u64,
        error: Option<String>,
    ) -> Self {
        Self {
            attempt,
            started_at,
            latency_ms,
            ok: error.is_none(),
            error: error.map(|e| e.chars().take(MAX_ERROR_CHARS).collect()),
        }
    }
}

/// One action of a firing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionDelivery {
    pub index: usize,
    pub action_id: String,
    /// The action's `type` (`webhook`, `recommendation`, `enrichment`, `publish`).
    #[serde(rename = "type")]
    pub kind: String,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    /// From the start of the last run to its outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    pub updated_at: DateTime<Utc>,
}

/// The event that fired the rule (for absence rules: the `after` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggeringEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub source: String,
    pub time: DateTime<Utc>,
}

/// One firing of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firing {
    /// `{rule}.{event hash}`: the prefix of its actions' ids.
    pub id: String,
    pub rule: String,
    pub person: String,
    pub triggering_event: TriggeringEvent,
    pub fired_at: DateTime<Utc>,
    pub actions: Vec<ActionDelivery>,
    /// The cap that held the firing back (its actions are `capped`): `caps/{i}`, the
    /// rule's own, or `policy/caps/{i}`, the tenant's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<String>,
    /// Set when the firing fell in the person's quiet hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietNote>,
}

/// What quiet hours did to a firing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietNote {
    /// The zone the firing was judged in (the person's, or the policy's default).
    pub time_zone: String,
    /// The firing's local wall-clock time there.
    pub local_time: String,
    /// Held: when the actions are published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_at: Option<DateTime<Utc>>,
    /// Dropped: why (`quiet_hours`, `rule_inactive`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Firing {
    /// The event hash of its id `{rule}.{hash}`.
    pub fn id_hash(&self) -> &str {
        self.id.rsplit_once('.').map_or("", |(_, hash)| hash)
    }

    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.fired_at <= now - Duration::days(RETENTION_DAYS)
    }
}

pub mod keys {
    use super::*;

    pub fn deliveries(tenant: &TenantId) -> String {
        format!("T#{tenant}#DELIVERIES")
    }

    /// Newest first: the µs of `fired_at` subtracted from `i64::MAX`, at a fixed width.
    pub fn inverted(fired_at: DateTime<Utc>) -> String {
        format!("{:019}", i64::MAX - fired_at.timestamp_micros())
    }

    pub fn firing(rule: &str, fired_at: DateTime<Utc>, hash: &str) -> String {
        format!("{rule}#{}#{hash}", inverted(fired_at))
    }

    /// Where a rule's firings start (every one sorts after it).
    pub fn rule_start(rule: &str) -> String {
        format!("{rule}#")
    }

    /// The rule's firings at or before `at` sort after this key.
    pub fn older_than(rule: &str, at: DateTime<Utc>) -> String {
        format!("{rule}#{}", inverted(at))
    }

    /// `(rule, event hash)` of an action id `{rule}.{hash}.{index}`.
    pub fn parse_action_id(action_id: &str) -> Option<(&str, &str, usize)> {
        let (firing, index) = action_id.rsplit_once('.')?;
        let (rule, hash) = firing.rsplit_once('.')?;
        Some((rule, hash, index.parse().ok()?))
    }
}

/// One page request of a rule's delivery log: `limit` and `cursor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    pub limit: usize,
    /// The sort key (without the rule) of the last firing already seen.
    pub after: Option<String>,
}

/// Page cursors: the position after the last item, base64url. They never hold a
/// partition key: the tenant always comes from the credential.
pub fn encode_cursor(position: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position)
}

pub fn decode_cursor(raw: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Parses `limit` (1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`]) and `cursor`;
/// `valid_cursor` checks a decoded cursor's shape. Unknown parameters are errors.
pub fn parse_page<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    valid_cursor: impl Fn(&str) -> bool,
) -> Result<PageQuery, Vec<ParamProblem>> {
    let mut query = PageQuery {
        limit: DEFAULT_PAGE,
        after: None,
    };
    let mut problems = Vec::new();
    for (name, value) in pairs {
        let mut problem = |code, detail: String| {
            problems.push(ParamProblem {
                parameter: name.to_owned(),
                code,
                detail,
            })
        };
        match name {
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => query.limit = n,
                _ => problem("invalid_limit", format!("limit must be 1 to {MAX_PAGE}")),
            },
            "cursor" => match decode_cursor(value).filter(|c| valid_cursor(c)) {
                Some(after) => query.after = Some(after),
                None => problem(
                    "invalid_cursor",
                    "the cursor is not one this API issued".to_owned(),
                ),
            },
            _ => problem(
                "unknown_parameter",
                format!("{name} is not a known parameter"),
            ),
        }
    }
    if problems.is_empty() {
        Ok(query)
    } else {
        Err(problems)
    }
}

/// A delivery-log cursor: `{inverted µs}#{hex hash}`.
pub fn valid_firing_cursor(cursor: &str) -> bool {
    cursor.split_once('#').is_some_and(|(time, hash)| {
        time.len() == 19
            && time.bytes().all(|b| b.is_ascii_digit())
            && !hash.is_empty()
            && hash.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firings_sort_newest_first_within_their_rule() {
        let t = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let older = keys::firing("rule-a", t, "ab");
        let newer = keys::firing("rule-a", t + Duration::microseconds(1), "ab");
        assert!(newer < older);
        assert!(older > keys::rule_start("rule-a"));
        assert!(keys::older_than("rule-a", t + Duration::seconds(1)) < older);
        assert!(!older.starts_with(&keys::rule_start("rule-ab")));
        let cursor = older.strip_prefix("rule-a#").unwrap();
        assert!(valid_firing_cursor(cursor));
        assert!(!valid_firing_cursor("rule-b#1"));
    }

    #[test]
    fn action_ids_name_their_rule_hash_and_index() {
        assert_eq!(
            keys::parse_action_id("rule-abc.0f1e.2"),
            Some(("rule-abc", "0f1e", 2))
        );
        assert_eq!(keys::parse_action_id("nope"), None);
    }

    #[test]
    fn pages_take_a_limit_and_a_cursor_and_nothing_else() {
        let cursor = encode_cursor("0000000000000000001#ab");
        let page = parse_page(
            [("limit", "5"), ("cursor", cursor.as_str())],
            valid_firing_cursor,
        )
        .unwrap();
        assert_eq!(
            page,
            PageQuery {
                limit: 5,
                after: Some("0000000000000000001#ab".into())
            }
        );
        let problems = parse_page(
            [("limit", "0"), ("cursor", "%%"), ("x", "1")],
            valid_firing_cursor,
        )
        .unwrap_err();
        let codes: Vec<_> = problems.iter().map(|p| p.code).collect();
        assert_eq!(
            codes,
            ["invalid_limit", "invalid_cursor", "unknown_parameter"]
        );
    }
}
