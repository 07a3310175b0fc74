//! An index of the values a `distinct` state keeps: one hash per kept value, in the
//! same order, so an event's value is compared with the few kept values of the same
//! hash instead of with each of them. The index lives for one fold call, built from
//! the state it starts with; the state itself (and so a snapshot) is unchanged.

use serde_json::Value;

use super::{AggState, Leaf};
use crate::view::{Aggregation, CompiledView};

/// Per aggregate of a view: for a `distinct` one, the hashes of its kept values.
pub(super) struct DistinctIndex(Vec<Vec<u64>>);

impl DistinctIndex {
    pub fn new(view: &CompiledView, states: &[AggState]) -> Self {
        let lists = view.aggregates.iter().zip(states);
        Self(
            lists
                .map(|(attribute, state)| match (attribute.aggregation, state) {
                    (Aggregation::Distinct(_), AggState::Recent(items)) => {
                        items.iter().map(|s| hash_of_value(&s.value)).collect()
                    }
                    _ => Vec::new(),
                })
                .collect(),
        )
    }

    /// The hashes of aggregate `i`'s kept values.
    pub fn of(&mut self, i: usize) -> &mut Vec<u64> {
        &mut self.0[i]
    }
}

/// Equal values have equal hashes: a string's hash is odd and depends only on its
/// bytes; every other value hashes to 0 (so it is compared with every other non-string,
/// and never with a string, which it cannot equal).
pub(super) fn hash_of_leaf(leaf: &Leaf<'_>) -> u64 {
    leaf.as_str().map_or(0, hash_of_str)
}

pub(super) fn hash_of_value(value: &Value) -> u64 {
    value.as_str().map_or(0, hash_of_str)
}

/// FxHash-style, eight bytes at a time.
fn hash_of_str(text: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |h: u64, word: u64| (h.rotate_left(5) ^ word).wrapping_mul(K);
    let mut chunks = text.as_bytes().chunks_exact(8);
    let mut h = text.len() as u64;
    for chunk in chunks.by_ref() {
        h = mix(
            h,
            u64::from_le_bytes(chunk.try_into().expect("eight bytes")),
        );
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = mix(h, u64::from_le_bytes(word));
    }
    h | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::borrow::Cow;

    #[test]
    fn equal_values_hash_alike_and_strings_apart_from_the_rest() {
        let values = [
            json!("a"),
            json!(""),
            json!("abcdefgh"),
            json!("abcdefghi"),
            json!(2),
            json!(2.0),
            json!(null),
            json!([1]),
        ];
        for value in &values {
            let h = hash_of_value(value);
            assert_eq!(h % 2 == 1, value.is_string(), "{value}");
            assert_eq!(hash_of_leaf(&Leaf::Ref(value)), h);
            assert_eq!(hash_of_leaf(&Leaf::Owned(value.clone())), h);
            if let Some(s) = value.as_str() {
                assert_eq!(hash_of_leaf(&Leaf::Str(Cow::Borrowed(s))), h);
            }
        }
        assert_ne!(hash_of_str("/p/1"), hash_of_str("/p/2"));
        assert_ne!(hash_of_str("a"), hash_of_str("a\0"));
    }
}
