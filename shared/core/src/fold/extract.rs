//! One pass over an event's JSON text that keeps only the values a view's plan names.
//! Keys and strings are borrowed from the text unless they hold escapes; everything
//! else is skipped (checked to be JSON by [`Scanner`], not built), and only wanted
//! scalars and containers go to serde_json. The result equals looking each pointer up
//! in the parsed `Value` (`Value::pointer`), which the tests check.

use serde_json::Value;
use std::borrow::Cow;

use super::scan::{Invalid, Scanner};
use super::Leaf;
use crate::view::{key_prefix, PointerNode, ReadPlan};

type Slots<'de> = Vec<Option<Leaf<'de>>>;

/// Fills `slots` (one per pointer of `plan`) from the JSON text of one event.
pub(super) fn extract<'de>(
    plan: &ReadPlan,
    json: &'de str,
    slots: &mut Slots<'de>,
) -> Result<(), Invalid> {
    slots.clear();
    slots.resize(plan.pointers.len(), None);
    let mut scan = Scanner::new(json);
    value(&mut scan, &plan.root, false, slots)?;
    match scan.peek() {
        None => Ok(()),
        Some(_) => Err(Invalid),
    }
}

/// The value at one node of the plan. `again`: its key was seen before in the same
/// object, so its slots may hold values (the last of two equal keys counts, as in a
/// parsed `Value`; the slots start empty, so a first visit has nothing to clear).
fn value<'de>(
    scan: &mut Scanner<'de>,
    node: &PointerNode,
    again: bool,
    slots: &mut Slots<'de>,
) -> Result<(), Invalid> {
    if again {
        clear_below(node, slots);
    }
    if let Some(slot) = node.slot {
        let leaf = leaf(scan)?;
        if let Leaf::Owned(value) = &leaf {
            resolve_below(node, value, slots);
        }
        slots[slot] = Some(leaf);
        return Ok(());
    }
    match scan.peek() {
        Some(b'{') => {
            scan.pos += 1;
            object(scan, node, slots)
        }
        // Wanted values below an array (`/a/0/b`): rare, so the array is parsed whole.
        Some(b'[') => {
            let value = parse(scan.skip()?)?;
            resolve_below(node, &value, slots);
            Ok(())
        }
        // Below a scalar there is nothing to find.
        _ => scan.skip().map(drop),
    }
}

/// After the `{` of an object whose node has children.
fn object<'de>(
    scan: &mut Scanner<'de>,
    node: &PointerNode,
    slots: &mut Slots<'de>,
) -> Result<(), Invalid> {
    if scan.eat(b'}') {
        return Ok(());
    }
    // Children seen so far in this object (beyond the 128th, always "again").
    let mut seen = 0u128;
    loop {
        scan.expect(b'"')?;
        let at = key(scan, node)?;
        scan.expect(b':')?;
        match at {
            Some(at) => {
                let bit = 1u128.checked_shl(at as u32).unwrap_or(0);
                let again = bit == 0 || seen & bit != 0;
                seen |= bit;
                value(scan, &node.children[at], again, slots)?;
            }
            None => _ = scan.skip()?,
        }
        if !scan.eat(b',') {
            return scan.expect(b'}');
        }
    }
}

/// After the opening quote of a key in an object of `node`: consumes the key and
/// returns which child of `node` has it. A key without escapes is compared as it
/// lies in the text, by its first eight bytes (one word) and length first.
fn key(scan: &mut Scanner<'_>, node: &PointerNode) -> Result<Option<usize>, Invalid> {
    let start = scan.pos;
    let (raw, escaped) = scan.string()?;
    if escaped {
        let quoted = &scan.text[start - 1..scan.pos];
        let key: String = serde_json::from_str(quoted).map_err(|_| Invalid)?;
        return Ok(child_at(node, key_prefix(key.as_bytes()), &key));
    }
    let len = raw.len();
    let prefix = match scan.text.as_bytes().get(start..start + 8) {
        Some(word) => {
            let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            match len {
                0..8 => word & ((1 << (8 * len)) - 1),
                _ => word,
            }
        }
        None => key_prefix(raw.as_bytes()),
    };
    Ok(child_at(node, prefix, raw))
}

/// Which child of `node` has `key` (whose [`key_prefix`] is `prefix`).
fn child_at(node: &PointerNode, prefix: u64, key: &str) -> Option<usize> {
    node.children.iter().position(|c| {
        c.prefix == prefix
            && c.key.len() == key.len()
            && (key.len() <= 8 || c.key.as_bytes()[8..] == key.as_bytes()[8..])
    })
}

/// After an opening quote: the string, borrowed unless it holds escapes.
fn string<'de>(scan: &mut Scanner<'de>) -> Result<Cow<'de, str>, Invalid> {
    let start = scan.pos - 1;
    match scan.string()? {
        (text, false) => Ok(Cow::Borrowed(text)),
        (_, true) => {
            let quoted = &scan.text[start..scan.pos];
            serde_json::from_str(quoted)
                .map(Cow::Owned)
                .map_err(|_| Invalid)
        }
    }
}

/// A wanted value: scalars as they are, arrays and objects parsed whole.
fn leaf<'de>(scan: &mut Scanner<'de>) -> Result<Leaf<'de>, Invalid> {
    Ok(match scan.peek().ok_or(Invalid)? {
        b'"' => {
            scan.pos += 1;
            Leaf::Str(string(scan)?)
        }
        b'-' | b'0'..=b'9' => Leaf::Number(scan.number()?.parse().map_err(|_| Invalid)?),
        b't' => scan.literal(b"true").map(|()| Leaf::Bool(true))?,
        b'f' => scan.literal(b"false").map(|()| Leaf::Bool(false))?,
        b'n' => scan.literal(b"null").map(|()| Leaf::Null)?,
        _ => Leaf::Owned(parse(scan.skip()?)?),
    })
}

fn parse(text: &str) -> Result<Value, Invalid> {
    serde_json::from_str(text).map_err(|_| Invalid)
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
