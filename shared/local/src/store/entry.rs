//! A Tape entry's stored form in redb's `tape` table (DECISIONS.md, "Tape entries on
//! redb: the event's text after the entry's fields").
//!
//! - Written since session 21: the entry's fields but `event`, as one line of compact
//!   JSON, then `\n`, then the event's JSON text exactly as it is. Writing escapes
//!   nothing of the event, and reading it is a slice (no unescaping, no scan of it).
//! - Written before: the whole [`TapeEntry`] as JSON, `event` a JSON string in it.
//!
//! Both read. Compact JSON never holds a raw newline (one in a string is `\n`
//! escaped), so the first `\n` of a row, if any, ends the fields of the new form.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::tape::TapeEntry;

/// The fields of an entry but its event, in [`TapeEntry`]'s serde names.
#[derive(Serialize)]
struct FieldsOut<'a> {
    tenant: &'a TenantId,
    person: &'a PersonId,
    time: &'a DateTime<Utc>,
    received_at: &'a DateTime<Utc>,
    #[serde(rename = "type")]
    ty: &'a str,
    source: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

#[derive(Deserialize)]
struct FieldsIn {
    tenant: TenantId,
    person: PersonId,
    time: DateTime<Utc>,
    received_at: DateTime<Utc>,
    #[serde(rename = "type")]
    ty: String,
    source: String,
    id: String,
    #[serde(default)]
    expires_at: Option<i64>,
    /// Only in the old form.
    #[serde(default)]
    event: Option<String>,
}

/// What a journey read needs of an entry: its other fields are skipped, not decoded
/// (no times parsed, no ids copied), and type, source and event are borrowed where
/// they can be.
pub(super) struct EntryRead<'a> {
    pub ty: Cow<'a, str>,
    pub source: Cow<'a, str>,
    pub expires_at: Option<i64>,
    pub event: Cow<'a, str>,
}

#[derive(Deserialize)]
struct ReadFields<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(default)]
    expires_at: Option<i64>,
    /// Only in the old form.
    #[serde(default)]
    event: Option<String>,
}

/// The stored form of `entry` (the new one).
pub(super) fn encode(entry: &TapeEntry) -> String {
    let fields = FieldsOut {
        tenant: &entry.tenant,
        person: &entry.person,
        time: &entry.time,
        received_at: &entry.received_at,
        ty: &entry.ty,
        source: &entry.source,
        id: &entry.id,
        expires_at: entry.expires_at,
    };
    let mut row = Vec::with_capacity(256 + entry.event.len());
    serde_json::to_writer(&mut row, &fields).expect("entry fields serialize");
    row.push(b'\n');
    row.extend_from_slice(entry.event.as_bytes());
    String::from_utf8(row).expect("JSON and the event's text are UTF-8")
}

/// The fields' JSON and, in the new form, the event's text.
fn split(row: &str) -> (&str, Option<&str>) {
    match row.find('\n') {
        Some(at) => (&row[..at], Some(&row[at + 1..])),
        None => (row, None),
    }
}

fn corrupted(e: impl std::fmt::Display) -> redb::Error {
    redb::Error::Corrupted(e.to_string())
}

/// A whole entry, from either form.
pub(super) fn decode(row: &str) -> Result<TapeEntry, redb::Error> {
    let (fields, tail) = split(row);
    let f: FieldsIn = serde_json::from_str(fields).map_err(corrupted)?;
    let event = match (tail, f.event) {
        (Some(text), _) => text.to_owned(),
        (None, Some(event)) => event,
        (None, None) => return Err(corrupted("a Tape entry without its event")),
    };
    Ok(TapeEntry {
        tenant: f.tenant,
        person: f.person,
        time: f.time,
        received_at: f.received_at,
        ty: f.ty,
        source: f.source,
        id: f.id,
        expires_at: f.expires_at,
        event,
    })
}

/// The part of an entry a journey read needs, from either form.
pub(super) fn decode_read(row: &str) -> Result<EntryRead<'_>, redb::Error> {
    let (fields, tail) = split(row);
    if let (Some(event), Some((ty, source, expires_at))) = (tail, read_fields_as_written(fields)) {
        return Ok(EntryRead {
            ty: Cow::Borrowed(ty),
            source: Cow::Borrowed(source),
            expires_at,
            event: Cow::Borrowed(event),
        });
    }
    let f: ReadFields<'_> = serde_json::from_str(fields).map_err(corrupted)?;
    let event = match (tail, f.event) {
        (Some(text), _) => Cow::Borrowed(text),
        (None, Some(event)) => Cow::Owned(event),
        (None, None) => return Err(corrupted("a Tape entry without its event")),
    };
    Ok(EntryRead {
        ty: f.ty,
        source: f.source,
        expires_at: f.expires_at,
        event,
    })
}

/// Type, source and expiry from fields exactly as [`encode`] writes them (in
/// `FieldsOut`'s order, compact), read without serde; `None` for anything else,
/// such as a string with an escape, which serde then reads.
fn read_fields_as_written(fields: &str) -> Option<(&str, &str, Option<i64>)> {
    let mut rest = fields.strip_prefix("{\"tenant\":\"")?;
    // The value up to its closing quote, then `key` (the next key and its opening quote).
    let mut next = |key: &str| {
        let (value, after) = rest.split_once('"')?;
        rest = after.strip_prefix(key)?;
        (!value.contains('\\')).then_some(value)
    };
    next(",\"person\":\"")?;
    next(",\"time\":\"")?;
    next(",\"received_at\":\"")?;
    next(",\"type\":\"")?;
    let ty = next(",\"source\":\"")?;
    let source = next(",\"id\":\"")?;
    next("")?;
    let expires_at = match rest {
        "}" => None,
        _ => Some(
            rest.strip_prefix(",\"expires_at\":")?
                .strip_suffix('}')?
                .parse()
                .ok()?,
        ),
    };
    Some((ty, source, expires_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(event: &str) -> TapeEntry {
        let time: DateTime<Utc> = "2026-11-23T10:00:00.123456Z".parse().unwrap();
        TapeEntry {
            tenant: TenantId::parse("acme").unwrap(),
            person: PersonId::parse("p-1").unwrap(),
            time,
            received_at: time,
            ty: "page.viewed".into(),
            source: "/web\nshop".into(),
            id: "e-1".into(),
            expires_at: Some(1_900_000_000),
            event: event.into(),
        }
    }

    const EVENT: &str = "{\"id\":\"e-1\",\n \"data\":{\"q\":\"a \\\"b\\\"\\n\"}}";

    #[test]
    fn the_new_form_keeps_the_event_text_as_it_is_and_reads_back_whole() {
        let entry = entry(EVENT);
        let row = encode(&entry);
        assert!(row.ends_with(&format!("\n{EVENT}")), "{row}");
        assert_eq!(decode(&row).unwrap(), entry);
        let read = decode_read(&row).unwrap();
        assert!(matches!(read.event, Cow::Borrowed(EVENT)));
        assert_eq!((&*read.ty, &*read.source), ("page.viewed", "/web\nshop"));
        assert_eq!(read.expires_at, Some(1_900_000_000));
    }

    #[test]
    fn an_entry_written_in_the_old_form_still_reads() {
        let entry = entry(EVENT);
        let old = serde_json::to_string(&entry).unwrap();
        assert!(!old.contains('\n'));
        assert_eq!(decode(&old).unwrap(), entry);
        let read = decode_read(&old).unwrap();
        assert_eq!(read.event, EVENT);
        assert_eq!((&*read.ty, &*read.source), ("page.viewed", "/web\nshop"));
    }

    #[test]
    fn the_fields_as_written_read_as_serde_reads_them() {
        let plain = entry(EVENT);
        let cases = [
            TapeEntry {
                source: "https://shop.example.com".into(),
                ..plain.clone()
            },
            TapeEntry {
                expires_at: None,
                source: "s".into(),
                ..plain.clone()
            },
            TapeEntry {
                ty: "t\"q".into(),
                id: "\\".into(),
                ..plain.clone()
            },
            TapeEntry {
                expires_at: Some(-5),
                ..plain.clone()
            },
            plain,
        ];
        for entry in cases {
            let row = encode(&entry);
            let fields = split(&row).0;
            let serde: ReadFields<'_> = serde_json::from_str(fields).unwrap();
            let read = decode_read(&row).unwrap();
            assert_eq!((&*read.ty, &*read.source), (&*serde.ty, &*serde.source));
            assert_eq!(read.expires_at, serde.expires_at);
            assert_eq!(read.event, entry.event);
            let fast = read_fields_as_written(fields);
            let plain = !fields.contains('\\');
            assert_eq!(fast.is_some(), plain, "{fields}");
        }
        let odd = r#"{"tenant":"a","person":"p","time":"t","received_at":"r","type":"x","source":"s","id":"i","expires_at":1,"more":2}"#;
        assert_eq!(read_fields_as_written(odd), None);
    }

    #[test]
    fn a_row_without_its_event_is_corrupt() {
        let fields = r#"{"tenant":"acme","person":"p","time":"2026-11-23T10:00:00Z","received_at":"2026-11-23T10:00:00Z","type":"t","source":"s","id":"i"}"#;
        assert!(decode(fields).is_err());
        assert!(decode_read(fields).is_err());
    }
}
