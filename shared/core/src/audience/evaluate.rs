//! Membership at a time: the condition's value, and when it must be looked at again.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;

use crate::rules::{Facts, Verdict};

pub use crate::rules::Seen;

use super::CompiledAudience;

/// A person's membership at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    pub member: bool,
    /// The first time after `at` when an event slides out of (or into) a window, so
    /// membership may change without any new event; `None` when only a new event,
    /// a profile change or an alias change can change it.
    pub next_check: Option<DateTime<Utc>>,
}

impl CompiledAudience {
    /// `history`: the person's (alias group's) events in time order, at least as far
    /// back as [`CompiledAudience::lookback`] before `at`, without audience events.
    /// `profiles`: view id → the profile's attributes.
    pub fn evaluate(
        &self,
        at: DateTime<Utc>,
        history: &[Seen<'_>],
        profiles: &BTreeMap<String, Value>,
    ) -> Evaluation {
        let facts = Facts {
            event: &Value::Null,
            time: at,
            history,
            profiles,
        };
        let member = self.rule.on_event(&facts) == Verdict::Fire;
        Evaluation {
            member,
            next_check: self.next_check(at, history),
        }
    }

    /// An event at `t` counts in a window `w` during `(t, t + w]`: it enters at `t`
    /// (a future event time) and leaves at `t + w`.
    fn next_check(&self, at: DateTime<Utc>, history: &[Seen<'_>]) -> Option<DateTime<Utc>> {
        let mut next: Option<DateTime<Utc>> = None;
        for (filter, window) in &self.windows {
            for seen in history.iter().filter(|s| filter.matches(s.event)) {
                let candidate = if seen.time > at {
                    seen.time
                } else {
                    seen.time + *window
                };
                if candidate > at && next.is_none_or(|n| candidate < n) {
                    next = Some(candidate);
                }
            }
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::super::AudienceDefinition;
    use super::*;
    use chrono::Duration;
    use serde_json::json;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::hours(hours)
    }

    fn audience(when: Value) -> CompiledAudience {
        let definition: AudienceDefinition =
            serde_json::from_value(json!({"name": "a", "when": when})).unwrap();
        definition.compile().unwrap()
    }

    fn pricing() -> Value {
        json!({"type": "page.viewed", "data": {"path": "/pricing"}})
    }

    /// (name, condition, events as (hour, event), ltv, evaluated at hour, member, next check hour)
    type Case = (
        &'static str,
        Value,
        Vec<(i64, Value)>,
        Option<i64>,
        i64,
        bool,
        Option<i64>,
    );

    #[test]
    fn membership_and_the_next_check_follow_the_windows() {
        let three = json!({"count": {"of": {"type": "page.viewed", "where": {"field": "/data/path", "op": "eq", "value": "/pricing"}}, "at_least": 3, "within": "7d"}});
        let cheap =
            json!({"profile": {"view": "view-v", "attribute": "ltv", "op": "lt", "value": 100}});
        let both = json!({"all": [three.clone(), cheap]});
        let no_order = json!({"not": {"count": {"of": {"type": "order.paid"}, "at_least": 1, "within": "1d"}}});
        let order = json!({"type": "order.paid"});
        let cases: Vec<Case> = vec![
            (
                "two views are not three",
                three.clone(),
                vec![(0, pricing()), (1, pricing())],
                None,
                2,
                false,
                Some(24 * 7),
            ),
            (
                "three views within 7d",
                three.clone(),
                vec![(0, pricing()), (1, pricing()), (2, pricing())],
                None,
                3,
                true,
                Some(24 * 7),
            ),
            (
                "the first view slid out",
                three.clone(),
                vec![(0, pricing()), (1, pricing()), (2, pricing())],
                None,
                24 * 7,
                false,
                Some(24 * 7 + 1),
            ),
            (
                "other pages do not count",
                three.clone(),
                vec![
                    (0, pricing()),
                    (1, pricing()),
                    (2, json!({"type": "page.viewed", "data": {"path": "/"}})),
                ],
                None,
                3,
                false,
                Some(24 * 7),
            ),
            (
                "views and a low ltv",
                both.clone(),
                vec![(0, pricing()), (1, pricing()), (2, pricing())],
                Some(50),
                3,
                true,
                Some(24 * 7),
            ),
            (
                "views and a high ltv",
                both.clone(),
                vec![(0, pricing()), (1, pricing()), (2, pricing())],
                Some(500),
                3,
                false,
                Some(24 * 7),
            ),
            (
                "no ltv never compares",
                both,
                vec![(0, pricing()), (1, pricing()), (2, pricing())],
                None,
                3,
                false,
                Some(24 * 7),
            ),
            (
                "no order yet",
                no_order.clone(),
                vec![],
                None,
                3,
                true,
                None,
            ),
            (
                "an order an hour ago",
                no_order.clone(),
                vec![(2, order.clone())],
                None,
                3,
                false,
                Some(26),
            ),
            (
                "the order slid out",
                no_order.clone(),
                vec![(2, order.clone())],
                None,
                26,
                true,
                None,
            ),
            (
                "a future event enters later",
                three,
                vec![(0, pricing()), (1, pricing()), (5, pricing())],
                None,
                3,
                false,
                Some(5),
            ),
        ];
        for (name, when, events, ltv, now, member, next) in cases {
            let audience = audience(when);
            let seen: Vec<Seen> = events
                .iter()
                .map(|(h, e)| Seen {
                    time: at(*h),
                    event: e,
                })
                .collect();
            let mut profiles = BTreeMap::new();
            if let Some(ltv) = ltv {
                profiles.insert("view-v".to_owned(), json!({"ltv": ltv}));
            }
            let got = audience.evaluate(at(now), &seen, &profiles);
            assert_eq!(
                got,
                Evaluation {
                    member,
                    next_check: next.map(at)
                },
                "{name}"
            );
        }
    }

    #[test]
    fn audiences_refuse_what_needs_an_incoming_event() {
        let definition: AudienceDefinition = serde_json::from_value(json!({
            "name": "",
            "when": {"all": [
                {"event": {"type": "a"}},
                {"absence": {"after": {"type": "a"}, "missing": {"type": "b"}, "within": "1h"}},
                {"count": {"of": {"type": "a"}, "at_least": 1, "within": "90d"}}
            ]}
        }))
        .unwrap();
        let problems = definition.compile().unwrap_err();
        let got: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.field.as_str(), p.code))
            .collect();
        assert_eq!(
            got,
            [
                ("when/all/0/event", "not_for_audiences"),
                ("when/all/1/absence", "not_for_audiences"),
                ("name", "invalid_name"),
                ("when/all/2/count/within", "invalid_window"),
            ]
        );
        let unknown = json!({"name": "a", "when": {"count": {"of": {}, "at_least": 1, "within": "1d"}}, "actions": []});
        assert!(serde_json::from_value::<AudienceDefinition>(unknown).is_err());
    }
}
