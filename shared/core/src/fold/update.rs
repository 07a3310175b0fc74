//! One event's value applied to one aggregate's state. States that keep values reuse
//! their buffers, so the fold does not allocate per event once its lists are full.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::{AggState, Leaf, Stamped};
use crate::view::Aggregation;

/// Applies one value; returns whether the event counted.
pub(super) fn update(
    state: &mut AggState,
    aggregation: Aggregation,
    key: &str,
    time: DateTime<Utc>,
    value: &Leaf<'_>,
) -> bool {
    match (state, aggregation) {
        (AggState::Pick(current), Aggregation::Latest | Aggregation::LastSeen) => {
            if current.as_ref().is_none_or(|c| key > c.key.as_str()) {
                pick(current, aggregation, key, time, value);
            }
            true
        }
        (AggState::Pick(current), _) => {
            if current.as_ref().is_none_or(|c| key < c.key.as_str()) {
                pick(current, aggregation, key, time, value);
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
            let spare = match items.iter().position(|s| value.same_as(&s.value)) {
                Some(at) if items[at].key.as_str() >= key => return true,
                Some(at) => Some(items.remove(at)),
                None => None,
            };
            insert_newest_first(items, key, value, limit, spare);
            true
        }
        (AggState::Recent(items), Aggregation::LastN(limit)) => {
            insert_newest_first(items, key, value, limit, None);
            true
        }
        (AggState::Recent(_), _) => unreachable!("recent states belong to distinct and last_n"),
    }
}

/// Makes `current` the value of the event at `key`.
fn pick(
    current: &mut Option<Stamped>,
    aggregation: Aggregation,
    key: &str,
    time: DateTime<Utc>,
    value: &Leaf<'_>,
) {
    let stamped = current.get_or_insert_with(|| Stamped {
        key: String::new(),
        value: Value::Null,
    });
    set_key(&mut stamped.key, key);
    match aggregation {
        Aggregation::FirstSeen | Aggregation::LastSeen => {
            stamped.value = Value::String(time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        }
        _ => value.write_into(&mut stamped.value),
    }
}

fn set_key(target: &mut String, key: &str) {
    target.clear();
    target.push_str(key);
}

/// Keeps `items` sorted newest first and at most `limit` long. The item that falls off
/// (or `spare`) is reused for the new one.
fn insert_newest_first(
    items: &mut Vec<Stamped>,
    key: &str,
    value: &Leaf<'_>,
    limit: usize,
    spare: Option<Stamped>,
) {
    // Events mostly come in key order: then the new one goes first, found at once.
    let newest = items.first().is_none_or(|s| key > s.key.as_str());
    let at = match newest {
        true => 0,
        false => items.partition_point(|s| s.key.as_str() > key),
    };
    if at >= limit {
        return;
    }
    let mut item = match spare {
        Some(item) => item,
        None if items.len() >= limit => items.pop().expect("limit is at least 1"),
        None => Stamped {
            key: String::new(),
            value: Value::Null,
        },
    };
    set_key(&mut item.key, key);
    value.write_into(&mut item.value);
    items.insert(at.min(items.len()), item);
    items.truncate(limit);
}
