//! One pass over an event's JSON text that keeps only the values a view's plan names.
//! Keys and strings are borrowed from the text unless they hold escapes; everything
//! else is skipped without being built. The result equals looking each pointer up in
//! the parsed `Value` (`Value::pointer`), which the tests check.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

use super::Leaf;
use crate::view::{PointerNode, ReadPlan};

type Slots<'de> = Vec<Option<Leaf<'de>>>;

/// Fills `slots` (one per pointer of `plan`) from the JSON text of one event.
pub(super) fn extract<'de>(
    plan: &ReadPlan,
    json: &'de str,
    slots: &mut Slots<'de>,
) -> Result<(), serde_json::Error> {
    slots.clear();
    slots.resize(plan.pointers.len(), None);
    let mut de = serde_json::Deserializer::from_str(json);
    Node {
        node: &plan.root,
        slots,
        again: false,
    }
    .deserialize(&mut de)?;
    de.end()
}

/// The value at one node of the plan.
struct Node<'p, 's, 'de> {
    node: &'p PointerNode,
    slots: &'s mut Slots<'de>,
    /// Its key was seen before in the same object, so its slots may hold values.
    again: bool,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        // A key seen twice: the last one counts, as in a parsed `Value`. (The slots
        // start empty, so a first visit has nothing to clear.)
        if self.again {
            clear_below(self.node, self.slots);
        }
        match self.node.slot {
            Some(slot) => {
                let leaf = de.deserialize_any(LeafVisitor)?;
                if let Leaf::Owned(value) = &leaf {
                    resolve_below(self.node, value, self.slots);
                }
                self.slots[slot] = Some(leaf);
                Ok(())
            }
            None => de.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Node<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Children seen so far in this object (beyond the 128th, always "again").
        let mut seen = 0u128;
        while let Some(Key(key)) = map.next_key()? {
            match self.node.children.iter().position(|c| c.key == key) {
                Some(at) => {
                    let bit = 1u128.checked_shl(at as u32).unwrap_or(0);
                    let again = bit == 0 || seen & bit != 0;
                    seen |= bit;
                    map.next_value_seed(Node {
                        node: &self.node.children[at],
                        slots: &mut *self.slots,
                        again,
                    })?
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        // Wanted values below an array (`/a/0/b`): rare, so the array is parsed whole.
        let value = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        resolve_below(self.node, &value, self.slots);
        Ok(())
    }

    // Below a scalar there is nothing to find.
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Empties the slots below `node` (and its own).
fn clear_below(node: &PointerNode, slots: &mut Slots<'_>) {
    if let Some(slot) = node.slot {
        slots[slot] = None;
    }
    for child in &node.children {
        clear_below(child, slots);
    }
}

/// Fills the slots below `node` from its value, parsed whole.
fn resolve_below(node: &PointerNode, value: &Value, slots: &mut Slots<'_>) {
    fn walk(prefix: usize, node: &PointerNode, value: &Value, slots: &mut Slots<'_>) {
        for child in &node.children {
            if let Some(slot) = child.slot {
                let found = value.pointer(&child.pointer[prefix..]);
                slots[slot] = found.cloned().map(Leaf::Owned);
            }
            walk(prefix, child, value, slots);
        }
    }
    walk(node.pointer.len(), node, value, slots);
}

/// An object key, borrowed from the text when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        de.deserialize_str(KeyVisitor)
    }
}

/// A wanted value: scalars as they are, arrays and objects parsed whole.
struct LeafVisitor;

impl<'de> Visitor<'de> for LeafVisitor {
    type Value = Leaf<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Leaf<'de>, E> {
        Ok(Leaf::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Leaf<'de>, E> {
        Ok(Leaf::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Leaf<'de>, E> {
        Ok(Leaf::Number(n.into()))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Leaf<'de>, E> {
        // As `Value` does: a number JSON cannot hold is null.
        Ok(serde_json::Number::from_f64(x).map_or(Leaf::Null, Leaf::Number))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Leaf<'de>, E> {
        Ok(Leaf::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Leaf<'de>, E> {
        Ok(Leaf::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Leaf<'de>, E> {
        Ok(Leaf::Str(Cow::Owned(s)))
    }
    fn visit_unit<E>(self) -> Result<Leaf<'de>, E> {
        Ok(Leaf::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Leaf<'de>, A::Error> {
        let access = serde::de::value::SeqAccessDeserializer::new(seq);
        Value::deserialize(access).map(Leaf::Owned)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Leaf<'de>, A::Error> {
        let access = serde::de::value::MapAccessDeserializer::new(map);
        Value::deserialize(access).map(Leaf::Owned)
    }
}
