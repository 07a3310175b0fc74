//! Folding a Tape into a profile, in event time.
//!
//! Each aggregate keeps a small state that is updated by one event at a time. Values
//! carry the event's sort key (event time, then hash), so "latest" means latest in event
//! time, ties are broken deterministically, and a late event changes "latest" only if it
//! really is later. A state can be saved (a snapshot) and folded further later.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::view::{AggregateAttribute, Aggregation, CompiledView};

/// Most contributing events listed per attribute when a profile is explained.
pub const MAX_EXPLAINED_EVENTS: usize = 100;

/// One event from the Tape, ready to fold.
pub struct FoldEvent<'a> {
    pub sort_key: &'a str,
    pub time: DateTime<Utc>,
    /// The CloudEvent as JSON.
    pub event: &'a Value,
}

/// A value and the sort key of the event it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped {
    pub key: String,
    pub value: Value,
}

/// The running state of one aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", content = "v", rename_all = "snake_case")]
pub enum AggState {
    /// latest, first, first_seen, last_seen
    Pick(Option<Stamped>),
    /// count, exists
    Count(u64),
    /// sum, avg
    Sum { sum: f64, count: u64 },
    /// min, max
    Extreme(Option<f64>),
    /// distinct (one entry per value) and last_n: newest first, at most `limit`
    Recent(Vec<Stamped>),
}

impl AggState {
    fn new(aggregation: Aggregation) -> Self {
        match aggregation {
            Aggregation::Latest
            | Aggregation::First
            | Aggregation::FirstSeen
            | Aggregation::LastSeen => AggState::Pick(None),
            Aggregation::Count | Aggregation::Exists => AggState::Count(0),
            Aggregation::Sum | Aggregation::Avg => AggState::Sum { sum: 0.0, count: 0 },
            Aggregation::Min | Aggregation::Max => AggState::Extreme(None),
            Aggregation::Distinct(_) | Aggregation::LastN(_) => AggState::Recent(Vec::new()),
        }
    }
}

/// The source and id of an event, to explain what an attribute used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    pub source: String,
    pub id: String,
}

/// The state of every aggregate of a view, in view order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileState {
    pub states: Vec<AggState>,
    /// Events folded into this state.
    pub folded: u64,
}

/// Which aggregates a fold updates.
#[derive(Debug, Clone, Copy)]
pub enum Part {
    /// Aggregates over the whole Tape: the part that snapshots keep.
    Unwindowed,
    /// Aggregates with a lookback window, relative to `now`.
    Windowed { now: DateTime<Utc> },
}

impl Part {
    fn covers(self, attribute: &AggregateAttribute, time: DateTime<Utc>) -> bool {
        match (self, attribute.window) {
            (Part::Unwindowed, None) => true,
            (Part::Windowed { now }, Some(window)) => time >= now - window,
            _ => false,
        }
    }

    /// The earliest event time this part can use (`None`: all of them).
    pub fn since(self, view: &CompiledView) -> Option<DateTime<Utc>> {
        match self {
            Part::Unwindowed => None,
            Part::Windowed { now } => view
                .aggregates
                .iter()
                .filter_map(|a| a.window)
                .max()
                .map(|w| now - w),
        }
    }
}

impl ProfileState {
    pub fn new(view: &CompiledView) -> Self {
        Self {
            states: view
                .aggregates
                .iter()
                .map(|a| AggState::new(a.aggregation))
                .collect(),
            folded: 0,
        }
    }

    /// Folds one event into the aggregates of `part`. With `explain`, also records
    /// which events each aggregate used.
    pub fn fold(
        &mut self,
        view: &CompiledView,
        part: Part,
        event: &FoldEvent<'_>,
        mut explain: Option<&mut Explain>,
    ) {
        self.folded += 1;
        for (i, attribute) in view.aggregates.iter().enumerate() {
            if !part.covers(attribute, event.time) || !attribute.filter.matches(event.event) {
                continue;
            }
            let value = match &attribute.field {
                Some(pointer) => match event.event.pointer(pointer) {
                    Some(value) => value,
                    None => continue,
                },
                None => &Value::Null,
            };
            if update(&mut self.states[i], attribute.aggregation, event, value) {
                if let Some(explain) = explain.as_deref_mut() {
                    explain.record(i, attribute.aggregation, event.event);
                }
            }
        }
    }
}

/// Applies one value; returns whether the event counted.
fn update(
    state: &mut AggState,
    aggregation: Aggregation,
    event: &FoldEvent<'_>,
    value: &Value,
) -> bool {
    let key = event.sort_key;
    let stamped = |value: Value| Stamped {
        key: key.to_owned(),
        value,
    };
    match (state, aggregation) {
        (AggState::Pick(current), Aggregation::Latest | Aggregation::LastSeen) => {
            if current.as_ref().is_none_or(|c| key > c.key.as_str()) {
                *current = Some(stamped(pick_value(aggregation, event, value)));
            }
            true
        }
        (AggState::Pick(current), _) => {
            if current.as_ref().is_none_or(|c| key < c.key.as_str()) {
                *current = Some(stamped(pick_value(aggregation, event, value)));
            }
            true
        }
        (AggState::Count(n), _) => {
            *n += 1;
            true
        }
        (AggState::Sum { sum, count }, _) => match value.as_f64() {
            Some(x) => {
                *sum += x;
                *count += 1;
                true
            }
            None => false,
        },
        (AggState::Extreme(current), _) => match value.as_f64() {
            Some(x) => {
                let better = match current {
                    None => true,
                    Some(c) if aggregation == Aggregation::Min => x < *c,
                    Some(c) => x > *c,
                };
                if better {
                    *current = Some(x);
                }
                true
            }
            None => false,
        },
        (AggState::Recent(items), Aggregation::Distinct(limit)) => {
            match items.iter().position(|s| &s.value == value) {
                Some(at) if items[at].key.as_str() >= key => return true,
                Some(at) => {
                    items.remove(at);
                }
                None => {}
            }
            insert_newest_first(items, stamped(value.clone()), limit);
            true
        }
        (AggState::Recent(items), Aggregation::LastN(limit)) => {
            insert_newest_first(items, stamped(value.clone()), limit);
            true
        }
        (AggState::Recent(_), _) => unreachable!("recent states belong to distinct and last_n"),
    }
}

fn pick_value(aggregation: Aggregation, event: &FoldEvent<'_>, value: &Value) -> Value {
    match aggregation {
        Aggregation::FirstSeen | Aggregation::LastSeen => Value::String(
            event
                .time
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ),
        _ => value.clone(),
    }
}

/// Keeps `items` sorted newest first and at most `limit` long.
fn insert_newest_first(items: &mut Vec<Stamped>, item: Stamped, limit: usize) {
    let at = items.partition_point(|s| s.key > item.key);
    if at < limit {
        items.insert(at, item);
        items.truncate(limit);
    }
}

/// Which events each aggregate used, newest last, at most [`MAX_EXPLAINED_EVENTS`].
#[derive(Debug, Clone, Default)]
pub struct Explain {
    pub events: Vec<Vec<EventRef>>,
}

impl Explain {
    pub fn new(view: &CompiledView) -> Self {
        Self {
            events: vec![Vec::new(); view.aggregates.len()],
        }
    }

    fn record(&mut self, i: usize, aggregation: Aggregation, event: &Value) {
        let text = |name: &str| {
            event
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let reference = EventRef {
            source: text("source"),
            id: text("id"),
        };
        let used = &mut self.events[i];
        match aggregation {
            // Events are folded in ascending time: the last one picked is the latest,
            // and the first one is kept for `first`.
            Aggregation::Latest | Aggregation::LastSeen => *used = vec![reference],
            Aggregation::First | Aggregation::FirstSeen if used.is_empty() => used.push(reference),
            Aggregation::First | Aggregation::FirstSeen => {}
            _ => {
                if used.len() == MAX_EXPLAINED_EVENTS {
                    used.remove(0);
                }
                used.push(reference);
            }
        }
    }
}

/// A finished profile: every attribute's value, and errors of computed ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub attributes: Map<String, Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub errors: Map<String, Value>,
}

/// Reads the aggregates' values (each from the state of its part) and evaluates the
/// computed attributes in dependency order.
pub fn finish(view: &CompiledView, unwindowed: &ProfileState, windowed: &ProfileState) -> Profile {
    let mut values = Map::new();
    for (i, attribute) in view.aggregates.iter().enumerate() {
        let state = if attribute.window.is_some() {
            &windowed.states[i]
        } else {
            &unwindowed.states[i]
        };
        values.insert(
            attribute.name.clone(),
            value_of(state, attribute.aggregation),
        );
    }
    let mut errors = Map::new();
    for computed in &view.computed {
        let value = evaluate(&computed.program, &values).unwrap_or_else(|error| {
            errors.insert(computed.name.clone(), Value::String(error));
            Value::Null
        });
        values.insert(computed.name.clone(), value);
    }
    Profile {
        attributes: values,
        errors,
    }
}

fn value_of(state: &AggState, aggregation: Aggregation) -> Value {
    match (state, aggregation) {
        (AggState::Pick(picked), _) => picked.as_ref().map_or(Value::Null, |s| s.value.clone()),
        (AggState::Count(n), Aggregation::Exists) => Value::Bool(*n > 0),
        (AggState::Count(n), _) => Value::from(*n),
        (AggState::Sum { sum, .. }, Aggregation::Sum) => number(*sum),
        (AggState::Sum { sum, count }, _) if *count > 0 => number(*sum / *count as f64),
        (AggState::Sum { .. }, _) => Value::Null,
        (AggState::Extreme(x), _) => x.map_or(Value::Null, number),
        (AggState::Recent(items), _) => {
            Value::Array(items.iter().map(|s| s.value.clone()).collect())
        }
    }
}

/// Whole numbers print as integers.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// Evaluates a CEL program over the attributes. CEL has no loops beyond macros over
/// the (bounded) values given, and no I/O: time and memory are bounded by the
/// expression's length and the attribute values.
///
/// Numbers reach expressions as doubles, so `ltv * 1.5` works whether `ltv` summed to
/// a whole number or not (CEL does not mix int and double arithmetic).
fn evaluate(program: &cel::Program, values: &Map<String, Value>) -> Result<Value, String> {
    let mut context = cel::Context::default();
    for (name, value) in values {
        let value = cel::to_value(as_doubles(value)).map_err(|e| e.to_string())?;
        context.add_variable_from_value(name.clone(), value);
    }
    let result = program.execute(&context).map_err(|e| e.to_string())?;
    result.json().map_err(|e| e.to_string())
}

fn as_doubles(value: &Value) -> Value {
    match value {
        Value::Number(n) => n.as_f64().map_or(Value::Null, |x| {
            serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
        }),
        Value::Array(items) => Value::Array(items.iter().map(as_doubles).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), as_doubles(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The event time encoded in a Tape sort key (`E#{time}#{hash}`).
pub fn time_of_sort_key(key: &str) -> Option<DateTime<Utc>> {
    let time = key.strip_prefix("E#")?.split('#').next()?;
    DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tape::{event_hash, time_key};
    use crate::view::ViewDefinition;
    use chrono::Duration;
    use serde_json::json;

    /// An event at minute `minute` past 10:00.
    fn at(minute: i64, id: &str, ty: &str, data: Value) -> (String, DateTime<Utc>, Value) {
        let time: DateTime<Utc> =
            "2026-11-23T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minute);
        let key = format!("E#{}#{}", time_key(time), event_hash("/s", id));
        (
            key,
            time,
            json!({"id": id, "source": "/s", "type": ty, "time": time, "data": data}),
        )
    }

    fn profile(
        attribute: Value,
        events: &[(String, DateTime<Utc>, Value)],
        now_minute: i64,
    ) -> Value {
        let view: ViewDefinition =
            serde_json::from_value(json!({"name": "t", "attributes": [attribute]})).unwrap();
        let view = view.compile().unwrap();
        let now = "2026-11-23T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
            + Duration::minutes(now_minute);
        let mut sorted: Vec<_> = events.to_vec();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let (mut whole, mut windowed) = (ProfileState::new(&view), ProfileState::new(&view));
        for (key, time, event) in &sorted {
            let e = FoldEvent {
                sort_key: key,
                time: *time,
                event,
            };
            whole.fold(&view, Part::Unwindowed, &e, None);
            windowed.fold(&view, Part::Windowed { now }, &e, None);
        }
        finish(&view, &whole, &windowed).attributes["a"].clone()
    }

    #[test]
    fn every_aggregation_over_the_same_events() {
        let events = [
            at(1, "e1", "view", json!({"path": "/home", "n": 5})),
            at(2, "e2", "view", json!({"path": "/pricing", "n": 1.5})),
            at(3, "e3", "buy", json!({"path": "/pay", "n": 10})),
            at(4, "e4", "view", json!({"path": "/home", "n": "NaN"})),
            at(5, "e5", "view", json!({"other": true})),
        ];
        let cases = [
            (
                json!({"aggregation": "latest", "field": "/data/path"}),
                json!("/home"),
            ),
            (
                json!({"aggregation": "first", "field": "/data/path"}),
                json!("/home"),
            ),
            (json!({"aggregation": "count"}), json!(5)),
            (
                json!({"aggregation": "count", "field": "/data/path"}),
                json!(4),
            ),
            (
                json!({"aggregation": "count", "filter": {"type": "view"}}),
                json!(4),
            ),
            (
                json!({"aggregation": "sum", "field": "/data/n"}),
                json!(16.5),
            ),
            (
                json!({"aggregation": "sum", "field": "/data/n", "filter": {"type": "buy"}}),
                json!(10),
            ),
            (
                json!({"aggregation": "avg", "field": "/data/n"}),
                json!(5.5),
            ),
            (
                json!({"aggregation": "min", "field": "/data/n"}),
                json!(1.5),
            ),
            (json!({"aggregation": "max", "field": "/data/n"}), json!(10)),
            (
                json!({"aggregation": "distinct", "field": "/data/path"}),
                json!(["/home", "/pay", "/pricing"]),
            ),
            (
                json!({"aggregation": "distinct", "field": "/data/path", "limit": 2}),
                json!(["/home", "/pay"]),
            ),
            (
                json!({"aggregation": "last_n", "field": "/data/path", "limit": 3}),
                json!(["/home", "/pay", "/pricing"]),
            ),
            (
                json!({"aggregation": "exists", "filter": {"type": "buy"}}),
                json!(true),
            ),
            (
                json!({"aggregation": "exists", "filter": {"type": "refund"}}),
                json!(false),
            ),
            (
                json!({"aggregation": "first_seen", "filter": {"type": "view"}}),
                json!("2026-11-23T10:01:00Z"),
            ),
            (
                json!({"aggregation": "last_seen", "filter": {"type": "view"}}),
                json!("2026-11-23T10:05:00Z"),
            ),
            (
                json!({"aggregation": "latest", "field": "/data/missing"}),
                Value::Null,
            ),
            (
                json!({"aggregation": "avg", "field": "/data/missing"}),
                Value::Null,
            ),
            (
                json!({"aggregation": "min", "field": "/data/missing"}),
                Value::Null,
            ),
        ];
        for (mut attribute, expected) in cases {
            attribute["name"] = json!("a");
            assert_eq!(
                profile(attribute.clone(), &events, 10),
                expected,
                "{attribute}"
            );
        }
    }

    #[test]
    fn windows_count_only_recent_events() {
        let events = [
            at(0, "old", "view", json!({"n": 1})),
            at(50, "mid", "view", json!({"n": 2})),
            at(58, "new", "view", json!({"n": 4})),
        ];
        let cases = [
            ("5m", json!(4)),
            ("10m", json!(6)),
            ("60m", json!(7)),
            ("1h", json!(7)),
            ("1d", json!(7)),
        ];
        for (window, expected) in cases {
            let attribute =
                json!({"name": "a", "aggregation": "sum", "field": "/data/n", "window": window});
            assert_eq!(profile(attribute, &events, 60), expected, "{window}");
        }
        let none =
            json!({"name": "a", "aggregation": "latest", "field": "/data/n", "window": "1m"});
        assert_eq!(profile(none, &events, 60), Value::Null);
    }

    #[test]
    fn a_late_event_wins_latest_only_if_it_is_really_later() {
        let on_time = at(5, "b", "view", json!({"v": "b"}));
        let late_but_older = at(1, "a", "view", json!({"v": "a"}));
        let attribute = json!({"name": "a", "aggregation": "latest", "field": "/data/v"});
        assert_eq!(
            profile(attribute.clone(), &[on_time.clone(), late_but_older], 10),
            json!("b")
        );
        // Two events at the same instant: the hash decides, whatever the arrival order.
        let (t1, t2) = (
            at(7, "x", "view", json!({"v": "x"})),
            at(7, "y", "view", json!({"v": "y"})),
        );
        let one = profile(attribute.clone(), &[t1.clone(), t2.clone()], 10);
        let other = profile(attribute, &[t2, t1], 10);
        assert_eq!(one, other);
    }

    #[test]
    fn computed_attributes_use_cel_and_report_errors() {
        let view: ViewDefinition = serde_json::from_value(json!({"name": "t", "attributes": [
            {"name": "ltv", "field": "/data/total", "aggregation": "sum"},
            {"name": "device", "field": "/data/device", "aggregation": "latest"},
            {"name": "boosted", "expression": "device == 'iPhone' ? ltv * 1.5 : ltv"},
            {"name": "broken", "expression": "device + 1.0"},
            {"name": "big", "expression": "ltv > 99"},
        ]}))
        .unwrap();
        let view = view.compile().unwrap();
        let (key, time, event) = at(1, "e", "buy", json!({"total": 100.0, "device": "iPhone"}));
        let mut state = ProfileState::new(&view);
        state.fold(
            &view,
            Part::Unwindowed,
            &FoldEvent {
                sort_key: &key,
                time,
                event: &event,
            },
            None,
        );
        let profile = finish(&view, &state, &ProfileState::new(&view));
        assert_eq!(profile.attributes["boosted"], json!(150.0));
        assert_eq!(profile.attributes["broken"], Value::Null);
        assert!(profile.errors.contains_key("broken"));
        assert_eq!(
            profile.attributes.len(),
            5,
            "every attribute, computed or not"
        );
        assert_eq!(
            profile.attributes["big"],
            json!(true),
            "doubles compare with ints"
        );
    }

    #[test]
    fn explain_lists_the_events_each_attribute_used() {
        let view: ViewDefinition = serde_json::from_value(json!({"name": "t", "attributes": [
            {"name": "last", "field": "/data/v", "aggregation": "latest"},
            {"name": "n", "aggregation": "count", "filter": {"type": "buy"}},
        ]}))
        .unwrap();
        let view = view.compile().unwrap();
        let events = [
            at(1, "e1", "view", json!({"v": 1})),
            at(2, "e2", "buy", json!({})),
            at(3, "e3", "buy", json!({"v": 3})),
        ];
        let mut state = ProfileState::new(&view);
        let mut explain = Explain::new(&view);
        for (key, time, event) in &events {
            state.fold(
                &view,
                Part::Unwindowed,
                &FoldEvent {
                    sort_key: key,
                    time: *time,
                    event,
                },
                Some(&mut explain),
            );
        }
        let ids = |i: usize| {
            explain.events[i]
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(0), ["e3"]);
        assert_eq!(ids(1), ["e2", "e3"]);
    }

    #[test]
    fn sort_keys_give_back_their_time() {
        let (key, time, _) = at(3, "e", "t", json!({}));
        assert_eq!(time_of_sort_key(&key), Some(time));
        assert_eq!(time_of_sort_key("garbage"), None);
    }
}
