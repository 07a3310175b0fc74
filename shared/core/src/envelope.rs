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
