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
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

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

#[derive(Serialize)]
struct Stamped<'a> {
    v: u8,
    tenant: &'a str,
    received_at: &'a str,
    stamp: String,
    event: &'a RawValue,
}

/// Encodes a validated event as a stamped record.
pub fn stamped_record(
    keys: &SigningKeys,
    tenant: &TenantId,
    received_at: DateTime<Utc>,
    event: &ValidEvent,
) -> StreamRecord {
    let received_at = received_at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let json = RawValue::from_string(event.to_json()).expect("a CloudEvent is JSON");
    let record = Stamped {
        v: 1,
        tenant: tenant.as_str(),
        received_at: &received_at,
        stamp: keys.stamp(tenant, &received_at, json.get().as_bytes()),
        event: &json,
    };
    StreamRecord {
        partition_key: partition_key(tenant, &event.person),
        data: serde_json::to_vec(&record).expect("a record serializes"),
    }
}

/// A record read back from the stream, before its origin is trusted.
#[derive(Debug, Deserialize)]
pub struct RecordEnvelope<'a> {
    #[serde(borrow)]
    pub event: &'a RawValue,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub received_at: Option<String>,
    #[serde(default)]
    pub stamp: Option<String>,
    #[serde(default)]
    pub credential: Option<String>,
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
