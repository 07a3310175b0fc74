//! The archive: the stream's events as gzip-compressed NDJSON objects, partitioned the
//! way Athena, DuckDB and Spark read directly (Hive-style `key=value` folders):
//!
//! ```text
//! archive/tenant={tenant}/date={YYYY-MM-DD}/hour={HH}/{batch}.json.gz    the events
//! archive-persons/tenant={tenant}/date=…/hour=…/{batch}.json             who is in it
//! ```
//!
//! The date and hour are the events' own (event time, UTC), so a replay of a time range
//! reads only its partitions. `{batch}` is the stream position of the batch's first
//! record ([`batch_of`]): positions are never reused, so no two batches share a name,
//! and a retried batch starts at the same record and overwrites the same objects.
//! Each line is an [`ArchivedEvent`]; the format is a stable export format (see
//! `docs/ARCHIVE.md`). The person list beside each object lets an erasure find the
//! objects to rewrite without reading every event.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

use crate::ids::TenantId;
use crate::tape::TapeEntry;

pub const DATA_PREFIX: &str = "archive/";
pub const PERSONS_PREFIX: &str = "archive-persons/";

/// One archived event: one line of an archive object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchivedEvent {
    pub tenant: String,
    pub person: String,
    pub time: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub ty: String,
    pub source: String,
    pub id: String,
    /// The CloudEvent in structured mode, as an object.
    pub event: Box<RawValue>,
}

impl From<&TapeEntry> for ArchivedEvent {
    fn from(entry: &TapeEntry) -> Self {
        Self {
            tenant: entry.tenant.to_string(),
            person: entry.person.to_string(),
            time: entry.time,
            received_at: entry.received_at,
            ty: entry.ty.clone(),
            source: entry.source.clone(),
            id: entry.id.clone(),
            event: RawValue::from_string(entry.event.clone()).expect("stored events are JSON"),
        }
    }
}

/// `tenant={t}/date={d}/hour={h}/` for an event time.
pub fn partition(tenant: &str, time: DateTime<Utc>) -> String {
    format!(
        "tenant={tenant}/date={:04}-{:02}-{:02}/hour={:02}/",
        time.year(),
        time.month(),
        time.day(),
        time.hour()
    )
}

/// The `{batch}` of a batch of stream records: its shard and the position of its first
/// record (`{shard}-{first}`). Positions are never reused on a shard, so no other batch
/// has the name; a retry starts at the same record, and rewrites the same objects with
/// the same records (and any that joined the batch since).
pub fn batch_of(shard: &str, first: &str) -> String {
    format!("{shard}-{first}")
}

/// `{batch}` made safe for a key: letters, digits and `-`.
fn batch_name(batch: &str) -> String {
    batch
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

pub fn data_key(partition: &str, batch: &str) -> String {
    format!("{DATA_PREFIX}{partition}{}.json.gz", batch_name(batch))
}

pub fn persons_key(partition: &str, batch: &str) -> String {
    format!("{PERSONS_PREFIX}{partition}{}.json", batch_name(batch))
}

/// The data object that a person list describes.
pub fn data_key_of_persons(persons_key: &str) -> Option<String> {
    let rest = persons_key
        .strip_prefix(PERSONS_PREFIX)?
        .strip_suffix(".json")?;
    Some(format!("{DATA_PREFIX}{rest}.json.gz"))
}

pub fn tenant_prefix(prefix: &str, tenant: &TenantId) -> String {
    format!("{prefix}tenant={tenant}/")
}

/// The date of a key under `…/tenant={t}/date={d}/…`.
pub fn date_of_key(key: &str) -> Option<NaiveDate> {
    let date = key.split("/date=").nth(1)?.get(..10)?;
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

/// The objects of one batch: per partition, the compressed lines and the person list.
pub struct ArchiveObject {
    pub tenant: TenantId,
    pub data_key: String,
    pub data: Vec<u8>,
    pub persons_key: String,
    pub persons: Vec<u8>,
    pub events: usize,
}

/// Splits a batch's entries into objects by (tenant, date, hour), keeping their order.
pub fn objects(batch: &str, entries: &[TapeEntry]) -> Vec<ArchiveObject> {
    let mut groups: BTreeMap<String, Vec<&TapeEntry>> = BTreeMap::new();
    for entry in entries {
        groups
            .entry(partition(entry.tenant.as_str(), entry.time))
            .or_default()
            .push(entry);
    }
    groups
        .into_iter()
        .map(|(partition, entries)| {
            let tenant = entries[0].tenant.clone();
            let persons: BTreeSet<&str> = entries.iter().map(|e| e.person.as_str()).collect();
            ArchiveObject {
                tenant,
                data_key: data_key(&partition, batch),
                data: encode_entries(&entries),
                persons_key: persons_key(&partition, batch),
                persons: serde_json::to_vec(&persons).expect("person lists serialize"),
                events: entries.len(),
            }
        })
        .collect()
}

/// gzip's fastest level: every batch of the stream is archived before it is
/// acknowledged, and this level compresses about 2.5 times as fast as the default
/// one, for objects a quarter to two fifths larger (DECISIONS.md, "Pipelined local
/// drains and the archive's compression level"). Any level decodes the same.
const LEVEL: flate2::Compression = flate2::Compression::fast();

/// gzip NDJSON. The gzip header carries no time, so equal events give equal bytes.
pub fn encode(events: &[ArchivedEvent]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), LEVEL);
    for event in events {
        serde_json::to_writer(&mut gz, event).expect("archived events serialize");
        gz.write_all(b"\n").expect("writing to memory");
    }
    gz.finish().expect("writing to memory")
}

/// An [`ArchivedEvent`]'s fields but the event, borrowed from the Tape entry.
#[derive(Serialize)]
struct LineHead<'a> {
    tenant: &'a str,
    person: &'a str,
    time: DateTime<Utc>,
    received_at: DateTime<Utc>,
    #[serde(rename = "type")]
    ty: &'a str,
    source: &'a str,
    id: &'a str,
}

/// [`encode`] of the entries' [`ArchivedEvent`]s, byte for byte, without copying
/// each entry or parsing its event again: the stored event is JSON already (ingest
/// validated it), and is written as it is, like a `RawValue`.
fn encode_entries(entries: &[&TapeEntry]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), LEVEL);
    let mut line = Vec::with_capacity(1024);
    for entry in entries {
        debug_assert!(serde_json::from_str::<&RawValue>(&entry.event).is_ok());
        line.clear();
        let head = LineHead {
            tenant: entry.tenant.as_str(),
            person: entry.person.as_str(),
            time: entry.time,
            received_at: entry.received_at,
            ty: &entry.ty,
            source: &entry.source,
            id: &entry.id,
        };
        serde_json::to_writer(&mut line, &head).expect("archived events serialize");
        line.pop(); // the head's closing brace: the event is its last member
        line.extend_from_slice(b",\"event\":");
        line.extend_from_slice(entry.event.as_bytes());
        line.extend_from_slice(b"}\n");
        gz.write_all(&line).expect("writing to memory");
    }
    gz.finish().expect("writing to memory")
}

#[derive(Debug, thiserror::Error)]
#[error("unreadable archive object: {0}")]
pub struct DecodeError(String);

pub fn decode(bytes: &[u8]) -> Result<Vec<ArchivedEvent>, DecodeError> {
    let mut text = String::new();
    GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| DecodeError(e.to_string()))?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| DecodeError(e.to_string())))
        .collect()
}

pub fn decode_persons(bytes: &[u8]) -> Result<BTreeSet<String>, DecodeError> {
    serde_json::from_slice(bytes).map_err(|e| DecodeError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PersonId;

    fn entry(person: &str, time: &str, id: &str) -> TapeEntry {
        let time = DateTime::parse_from_rfc3339(time)
            .unwrap()
            .with_timezone(&Utc);
        TapeEntry {
            tenant: TenantId::parse("acme").unwrap(),
            person: PersonId::parse(person).unwrap(),
            time,
            received_at: time,
            ty: "page.viewed".into(),
            source: "/web".into(),
            id: id.into(),
            expires_at: None,
            event: format!(
                r#"{{"specversion":"1.0","id":"{id}","source":"/web","type":"page.viewed","person":"{person}"}}"#
            ),
        }
    }

    #[test]
    fn a_batch_splits_by_hour_and_encodes_deterministically() {
        let entries = [
            entry("ana", "2026-11-23T10:59:59Z", "1"),
            entry("ben", "2026-11-23T11:00:00Z", "2"),
            entry("ana", "2026-11-23T10:00:00Z", "3"),
        ];
        let objects = objects("shardId-000000000000/4959", &entries);
        let keys: Vec<_> = objects.iter().map(|o| o.data_key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "archive/tenant=acme/date=2026-11-23/hour=10/shardId-000000000000-4959.json.gz",
                "archive/tenant=acme/date=2026-11-23/hour=11/shardId-000000000000-4959.json.gz"
            ]
        );
        let events = decode(&objects[0].data).unwrap();
        assert_eq!(
            events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["1", "3"]
        );
        assert_eq!(
            events[0].event.get(),
            entries[0].event,
            "the event is kept byte for byte"
        );
        assert_eq!(
            objects[0].data,
            super::objects("shardId-000000000000/4959", &entries)[0].data
        );
        let whole: Vec<ArchivedEvent> = [&entries[0], &entries[2]]
            .into_iter()
            .map(ArchivedEvent::from)
            .collect();
        assert_eq!(
            objects[0].data,
            encode(&whole),
            "the borrowed lines are the archived events' lines"
        );
        assert_eq!(
            decode_persons(&objects[0].persons).unwrap(),
            BTreeSet::from(["ana".to_owned()])
        );
        assert_eq!(
            data_key_of_persons(&objects[1].persons_key).as_deref(),
            Some(objects[1].data_key.as_str())
        );
        assert_eq!(
            date_of_key(&objects[1].data_key),
            NaiveDate::from_ymd_opt(2026, 11, 23)
        );
    }
}
