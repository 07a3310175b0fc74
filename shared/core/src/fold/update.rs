//! One event's value applied to one aggregate's state. States that keep values reuse
//! their buffers, so the fold does not allocate per event once its lists are full.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::distinct::hash_of_leaf;
use super::{AggState, Leaf, Stamped};
use crate::view::Aggregation;

/// Applies one value; returns whether the event counted. `hashes`: for a `distinct`
/// state, its [`super::distinct::DistinctIndex`] entry, kept in step with it.
pub(super) fn update(
    state: &mut AggState,
    aggregation: Aggregation,
    key: &str,
    time: DateTime<Utc>,
    value: &Leaf<'_>,
    hashes: Option<&mut Vec<u64>>,
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
            match hashes {
                Some(hashes) => distinct_indexed(items, hashes, key, value, limit),
                None => distinct(items, key, value, limit),
            }
            true
        }
        (AggState::Recent(items), Aggregation::LastN(limit)) => {
            insert_newest_first(items, key, value, limit, None, None);
            true
        }
        (AggState::Recent(_), _) => unreachable!("recent states belong to distinct and last_n"),
    }
}

/// Keeps `value` once, at its newest key.
fn distinct(items: &mut Vec<Stamped>, key: &str, value: &Leaf<'_>, limit: usize) {
    let spare = match items.iter().position(|s| value.same_as(&s.value)) {
        Some(at) if items[at].key.as_str() >= key => return,
        Some(at) => Some(items.remove(at)),
        None => None,
    };
    insert_newest_first(items, key, value, limit, spare, None);
}

/// [`distinct`], comparing `value` only with the kept values of its hash.
fn distinct_indexed(
    items: &mut Vec<Stamped>,
    hashes: &mut Vec<u64>,
    key: &str,
    value: &Leaf<'_>,
    limit: usize,
) {
    let hash = hash_of_leaf(value);
    let found = hashes
        .iter()
        .zip(items.iter())
        .position(|(&h, s)| h == hash && value.same_as(&s.value));
    let spare = match found {
        Some(at) if items[at].key.as_str() >= key => return,
        Some(at) => {
            hashes.remove(at);
            Some(items.remove(at))
        }
        None => None,
    };
    insert_newest_first(items, key, value, limit, spare, Some((hashes, hash)));
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
/// (or `spare`) is reused for the new one. `hashes` (and the new value's hash) are kept
/// in step with `items`.
fn insert_newest_first(
    items: &mut Vec<Stamped>,
    key: &str,
    value: &Leaf<'_>,
    limit: usize,
    spare: Option<Stamped>,
    mut hashes: Option<(&mut Vec<u64>, u64)>,
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
        None if items.len() >= limit => {
            if let Some((hashes, _)) = hashes.as_mut() {
                hashes.pop();
            }
            items.pop().expect("limit is at least 1")
        }
        None => Stamped {
            key: String::new(),
            value: Value::Null,
        },
    };
    set_key(&mut item.key, key);
    value.write_into(&mut item.value);
    let at = at.min(items.len());
    items.insert(at, item);
    items.truncate(limit);
    if let Some((hashes, hash)) = hashes {
        hashes.insert(at, hash);
        hashes.truncate(limit);
    }
}
