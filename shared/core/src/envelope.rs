//! What travels on the event stream.
//!
//! The ingest API writes *stamped* records: the tenant it verified, the receive time and
//! the event, with an HMAC stamp over all three, so nobody else can claim a tenant:
//! `{"v":1,"tenant":"acme","received_at":"…","stamp":"k1.…","event":{…}}`.
//!
//! Producers that write straight to the stream send *direct* records, carrying their own
//! CJaaS credential instead: `{"credential":"cjk_…","event":{…}}`. The Tape writer
//! verifies either form; anything else is dead-lettered.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::borrow::Cow;

use crate::auth::SigningKeys;
use crate::event::ValidEvent;
use crate::ids::{PersonId, TenantId};

/// One record for the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub partition_key: String,
    pub data: Vec<u8>,
}

/// Same tenant and person, same key, same shard: a person's events stay in order.
/// Hashed, because person ids may be longer than Kinesis' 256-character keys.
pub fn partition_key(tenant: &TenantId, person: &PersonId) -> String {
    let mut hasher = Sha256::new();
    hasher.update(tenant.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(person.as_str().as_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// Encodes a validated event as a stamped record: its stored form, written once at
/// validation, is stamped and copied in as it is.
pub fn stamped_record(
    keys: &SigningKeys,
    tenant: &TenantId,
    received_at: DateTime<Utc>,
    event: &ValidEvent,
) -> StreamRecord {
    let received_at = received_at.to_rfc3339_opts(SecondsFormat::Micros, true);
    stamped_with(keys, tenant, &received_at, event)
}

/// Stamped records of one request's events, which share their receive time.
pub fn stamped_records(
    keys: &SigningKeys,
    tenant: &TenantId,
    received_at: DateTime<Utc>,
    events: &[ValidEvent],
) -> Vec<StreamRecord> {
    let received_at = received_at.to_rfc3339_opts(SecondsFormat::Micros, true);
    events
        .iter()
        .map(|e| stamped_with(keys, tenant, &received_at, e))
        .collect()
}

/// `{"v":1,"tenant":…,"received_at":…,"stamp":…,"event":…}`, the layout readers expect.
fn stamped_with(
    keys: &SigningKeys,
    tenant: &TenantId,
    received_at: &str,
    event: &ValidEvent,
) -> StreamRecord {
    let json = event.json();
    let stamp = keys.stamp(tenant, received_at, json.as_bytes());
    let mut data = Vec::with_capacity(json.len() + stamp.len() + received_at.len() + 80);
    data.extend_from_slice(b"{\"v\":1,\"tenant\":");
    serde_json::to_writer(&mut data, tenant.as_str()).expect("a string");
    data.extend_from_slice(b",\"received_at\":");
    serde_json::to_writer(&mut data, received_at).expect("a string");
    data.extend_from_slice(b",\"stamp\":");
    serde_json::to_writer(&mut data, &stamp).expect("a string");
    data.extend_from_slice(b",\"event\":");
    data.extend_from_slice(json.as_bytes());
    data.push(b'}');
    StreamRecord {
        partition_key: partition_key(tenant, &event.person),
        data,
    }
}

/// A stamped record whose stamp verified, read without a JSON parse of the record.
#[derive(Debug, PartialEq, Eq)]
pub struct VerifiedStamp<'a> {
    pub tenant: TenantId,
    pub received_at: DateTime<Utc>,
    /// The event's JSON, exactly as ingest stamped it.
    pub event: &'a str,
}

/// Reads a record in the exact layout [`stamped_record`] writes and checks its stamp
/// over the raw bytes, without parsing the record as JSON: the tenant, receive time and
/// stamp are strings without escapes, and the event runs to the record's closing brace.
/// `None` for anything else, including a stamp that does not verify: the caller then
/// reads the record with [`RecordEnvelope::parse`], which gives every verdict as before.
pub fn verified_stamp<'a>(data: &'a [u8], keys: &SigningKeys) -> Option<VerifiedStamp<'a>> {
    let rest = data.strip_prefix(b"{\"v\":1,\"tenant\":")?;
    let (tenant, rest) = plain_string(rest)?;
    let (received_at, rest) = plain_string(rest.strip_prefix(b",\"received_at\":")?)?;
    let (stamp, rest) = plain_string(rest.strip_prefix(b",\"stamp\":")?)?;
    let event = rest.strip_prefix(b",\"event\":")?.strip_suffix(b"}")?;
    if !keys.verify_stamp(stamp, tenant, received_at, event) {
        return None;
    }
    Some(VerifiedStamp {
        tenant: TenantId::parse(tenant).ok()?,
        received_at: DateTime::parse_from_rfc3339(received_at)
            .ok()?
            .with_timezone(&Utc),
        event: std::str::from_utf8(event).ok()?,
    })
}

/// A JSON string at the start of `bytes` that holds no escape or control character:
/// its text and the bytes after it.
fn plain_string(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let body = bytes.strip_prefix(b"\"")?;
    let end = body.iter().position(|b| *b == b'"')?;
    let text = &body[..end];
    if text.iter().any(|b| *b == b'\\' || *b < 0x20) {
        return None;
    }
    Some((std::str::from_utf8(text).ok()?, &body[end + 1..]))
}

/// A record read back from the stream, before its origin is trusted.
#[derive(Debug, Deserialize)]
pub struct RecordEnvelope<'a> {
    #[serde(borrow)]
    pub event: &'a RawValue,
    #[serde(default, borrow)]
    pub tenant: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub received_at: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub stamp: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub credential: Option<Cow<'a, str>>,
}

/// Where a record claims to come from.
#[derive(Debug, PartialEq, Eq)]
pub enum Origin<'a> {
    /// Written by the ingest API; the stamp was checked.
    Ingest {
        tenant: TenantId,
        received_at: DateTime<Utc>,
    },
    /// Written by a producer with this credential, still to be verified.
    Direct { credential: &'a str },
}

/// Why a record can never be written to the Tape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordProblem {
    pub code: &'static str,
    pub detail: String,
}

impl RecordProblem {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

impl<'a> RecordEnvelope<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self, RecordProblem> {
        serde_json::from_slice(data).map_err(|e| {
            RecordProblem::new(
                "malformed_record",
                format!("not a CJaaS stream record: {e}"),
            )
        })
    }

    /// Checks the stamp of an ingest record, or hands back a producer's credential.
    pub fn origin(&self, keys: &SigningKeys) -> Result<Origin<'_>, RecordProblem> {
        match (&self.stamp, &self.credential) {
            (Some(stamp), _) => {
                let (Some(tenant), Some(received_at)) = (&self.tenant, &self.received_at) else {
                    return Err(RecordProblem::new(
                        "bad_stamp",
                        "stamped record lacks tenant or received_at",
                    ));
                };
                if !keys.verify_stamp(stamp, tenant, received_at, self.event.get().as_bytes()) {
                    return Err(RecordProblem::new(
                        "bad_stamp",
                        "the record stamp does not verify",
                    ));
                }
                Ok(Origin::Ingest {
                    tenant: TenantId::parse(tenant)
                        .map_err(|e| RecordProblem::new("bad_stamp", format!("tenant {e}")))?,
                    received_at: DateTime::parse_from_rfc3339(received_at)
                        .map_err(|e| RecordProblem::new("bad_stamp", e.to_string()))?
                        .with_timezone(&Utc),
                })
            }
            (None, Some(credential)) => Ok(Origin::Direct { credential }),
            (None, None) => Err(RecordProblem::new(
                "missing_credential",
                "a record written straight to the stream must carry a CJaaS credential",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_structured;

    fn now() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn stamped_records_round_trip_to_their_tenant() {
        let keys = SigningKeys::generate("k1");
        let tenant = TenantId::parse("acme").unwrap();
        let body = br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","person":"p"}"#;
        let event = parse_structured(body, now()).unwrap();
        let record = stamped_record(&keys, &tenant, now(), &event);
        let envelope = RecordEnvelope::parse(&record.data).unwrap();
        assert_eq!(
            envelope.origin(&keys).unwrap(),
            Origin::Ingest {
                tenant,
                received_at: now()
            }
        );
        assert_eq!(record.partition_key.len(), 32);
    }

    #[test]
    fn a_stamped_record_carries_the_stored_event_byte_for_byte() {
        let keys = SigningKeys::generate("k1");
        let tenant = TenantId::parse("acme").unwrap();
        let body = br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","person":"p","data":{"a" : 1.50}}"#;
        let event = parse_structured(body, now()).unwrap();
        let record = stamped_record(&keys, &tenant, now(), &event);
        let value: serde_json::Value = serde_json::from_slice(&record.data).unwrap();
        assert_eq!(value["v"], 1);
        assert_eq!(value["received_at"], "2026-11-23T10:00:00.000000Z");
        let envelope = RecordEnvelope::parse(&record.data).unwrap();
        assert_eq!(envelope.event.get(), event.json());
        assert!(
            event.json().contains(r#""data":{"a" : 1.50}"#),
            "data kept raw"
        );
        assert_eq!(
            stamped_records(&keys, &tenant, now(), std::slice::from_ref(&event)),
            vec![record]
        );
    }

    #[test]
    fn the_raw_stamp_check_agrees_with_the_envelope_parse() {
        let keys = SigningKeys::generate("k1");
        let tenant = TenantId::parse("acme").unwrap();
        let body = br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","person":"p","data":{"q":"a\"}"}}"#;
        let event = parse_structured(body, now()).unwrap();
        let record = stamped_record(&keys, &tenant, now(), &event);
        let verified = verified_stamp(&record.data, &keys).unwrap();
        let envelope = RecordEnvelope::parse(&record.data).unwrap();
        assert_eq!(verified.event, envelope.event.get());
        assert_eq!(
            envelope.origin(&keys).unwrap(),
            Origin::Ingest {
                tenant: verified.tenant,
                received_at: verified.received_at
            }
        );
        // Another key, a forged tenant, another layout: left to the envelope parse.
        assert!(verified_stamp(&record.data, &SigningKeys::generate("k1")).is_none());
        let text = String::from_utf8(record.data).unwrap();
        let forged = text.replace("\"acme\"", "\"evil\"");
        assert!(verified_stamp(forged.as_bytes(), &keys).is_none());
        let spaced = text.replacen("{\"v\":1,", "{ \"v\":1,", 1);
        assert!(verified_stamp(spaced.as_bytes(), &keys).is_none());
        assert!(RecordEnvelope::parse(spaced.as_bytes())
            .unwrap()
            .origin(&keys)
            .is_ok());
        let trailing = format!("{text},\"x\":1}}");
        assert!(verified_stamp(trailing.as_bytes(), &keys).is_none());
    }

    #[test]
    fn a_forged_tenant_breaks_the_stamp() {
        let keys = SigningKeys::generate("k1");
        let tenant = TenantId::parse("acme").unwrap();
        let body = br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","person":"p"}"#;
        let event = parse_structured(body, now()).unwrap();
        let record = stamped_record(&keys, &tenant, now(), &event);
        let forged = String::from_utf8(record.data)
            .unwrap()
            .replace("\"acme\"", "\"evil\"");
        let envelope = RecordEnvelope::parse(forged.as_bytes()).unwrap();
        assert_eq!(envelope.origin(&keys).unwrap_err().code, "bad_stamp");
    }

    #[test]
    fn records_without_credential_or_json_are_refused() {
        let keys = SigningKeys::generate("k1");
        let bare = br#"{"event":{"id":"1"}}"#;
        let envelope = RecordEnvelope::parse(bare).unwrap();
        assert_eq!(
            envelope.origin(&keys).unwrap_err().code,
            "missing_credential"
        );
        assert_eq!(
            RecordEnvelope::parse(b"nope").unwrap_err().code,
            "malformed_record"
        );
    }
}
