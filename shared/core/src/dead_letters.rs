//! What a tenant's admin sees of a dead letter: its id, reason and record, never a
//! credential the record carried.
//!
//! - **Ids** are the letter's origin (unique per record), base64url: opaque, and
//!   reversible, so each store finds the letter under the caller's tenant from it.
//! - **Letters without a verified tenant** (malformed records, bad stamps, refused
//!   credentials) are kept for operators only: a record that names a tenant it cannot
//!   prove never shows up in that tenant's list.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::ports::DeadLetter;

/// Origins of letters the actions runner wrote: `action/{action id}`.
pub const ACTION_ORIGIN_PREFIX: &str = "action/";
pub const REDACTED: &str = "[redacted]";

pub fn letter_id(origin: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(origin)
}

/// The longest origin a letter has (a Kinesis shard id and sequence number, or an
/// action id, are far shorter).
pub const MAX_ORIGIN_BYTES: usize = 256;

/// Whether `origin` could be a letter's: what ids and cursors may name.
pub fn valid_origin(origin: &str) -> bool {
    !origin.is_empty() && origin.len() <= MAX_ORIGIN_BYTES && !origin.chars().any(char::is_control)
}

/// The origin an id names, if it is one this API issued.
pub fn origin_of(id: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .ok()?;
    String::from_utf8(bytes).ok().filter(|o| valid_origin(o))
}

/// What the letter holds: a stream record for the Tape, or an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LetterKind {
    Record,
    Action,
}

pub fn kind_of(letter: &DeadLetter) -> LetterKind {
    if letter.origin.starts_with(ACTION_ORIGIN_PREFIX) {
        LetterKind::Action
    } else {
        LetterKind::Record
    }
}

/// A dead letter as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LetterView {
    pub id: String,
    pub kind: LetterKind,
    pub origin: String,
    pub code: String,
    pub reason: String,
    pub failed_at: DateTime<Utc>,
    pub size_bytes: usize,
    /// The record (or action) as JSON, with any `credential` replaced by
    /// `"[redacted]"`; `null` if it is not JSON.
    pub record: Value,
}

impl LetterView {
    pub fn of(letter: &DeadLetter) -> Self {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&letter.payload_base64)
            .unwrap_or_default();
        Self {
            id: letter_id(&letter.origin),
            kind: kind_of(letter),
            origin: letter.origin.clone(),
            code: letter.code.clone(),
            reason: letter.reason.clone(),
            failed_at: letter.failed_at,
            size_bytes: bytes.len(),
            record: redacted(&bytes),
        }
    }
}

/// The payload as JSON without credentials. A direct producer's record carries its
/// API key or token in `credential`; nothing else in a record is a secret.
fn redacted(bytes: &[u8]) -> Value {
    let Ok(mut value) = serde_json::from_slice::<Value>(bytes) else {
        return Value::Null;
    };
    if let Some(object) = value.as_object_mut() {
        if let Some(credential) = object.get_mut("credential") {
            *credential = Value::String(REDACTED.to_owned());
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(origin: &str, payload: &str) -> DeadLetter {
        DeadLetter {
            origin: origin.into(),
            tenant: Some("acme".into()),
            code: "insufficient_scope".into(),
            reason: "r".into(),
            failed_at: Utc::now(),
            payload_base64: base64::engine::general_purpose::STANDARD.encode(payload),
        }
    }

    #[test]
    fn ids_round_trip_to_origins() {
        let id = letter_id("shardId-000000000000/4959");
        assert_eq!(origin_of(&id).as_deref(), Some("shardId-000000000000/4959"));
        assert_eq!(origin_of("not base64!"), None);
        assert_eq!(origin_of(""), None);
        assert_eq!(
            origin_of(&letter_id(&"x".repeat(MAX_ORIGIN_BYTES + 1))),
            None
        );
    }

    #[test]
    fn credentials_never_leave_a_letter() {
        let view = LetterView::of(&letter(
            "kin/1",
            r#"{"credential":"cjk_acme_k1_secret","event":{"id":"e1"}}"#,
        ));
        assert_eq!(view.record["credential"], REDACTED);
        assert_eq!(view.record["event"]["id"], "e1");
        assert!(!serde_json::to_string(&view).unwrap().contains("secret"));
        assert_eq!(view.kind, LetterKind::Record);
        let action = LetterView::of(&letter("action/rule-a.ff.0", "not json"));
        assert_eq!(
            (action.kind, action.record),
            (LetterKind::Action, Value::Null)
        );
    }
}
