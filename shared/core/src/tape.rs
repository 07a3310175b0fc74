//! The Tape: an append-only ledger of events per tenant and person.
//!
//! Key design (the same in DynamoDB and in the embedded store):
//!
//! | item        | partition key `pk`          | sort key `sk`                        |
//! |-------------|-----------------------------|--------------------------------------|
//! | tape entry  | `T#{tenant}#P#{person}`     | `E#{time, UTC, µs}#{event hash}`     |
//! | dedup mark  | `T#{tenant}#D#{event hash}` | `D`                                  |
//!
//! The event hash is SHA-256 over `source` and `id`, so the dedup mark makes an event
//! unique per (tenant, source, id) however often it is delivered, whatever its arrival
//! time. Entries sort by event time; the hash breaks ties deterministically.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::ValidEvent;
use crate::ids::{PersonId, TenantId};

pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;

/// One event as written to the Tape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TapeEntry {
    pub tenant: TenantId,
    pub person: PersonId,
    pub time: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub ty: String,
    pub source: String,
    pub id: String,
    /// When the tenant's retention ends for this entry (Unix seconds): the DynamoDB
    /// TTL attribute. Reads leave out expired entries, since TTL deletion lags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The CloudEvent in structured-mode JSON, exactly as it is served back.
    pub event: String,
}

impl TapeEntry {
    pub fn new(tenant: TenantId, valid: &ValidEvent, received_at: DateTime<Utc>) -> Self {
        Self {
            tenant,
            person: valid.person.clone(),
            time: valid.time,
            received_at,
            ty: valid.ty().to_owned(),
            source: valid.source().to_owned(),
            id: valid.id().to_owned(),
            expires_at: None,
            event: valid.to_json(),
        }
    }

    /// [`TapeEntry::new`], taking the event's stored form instead of copying it.
    pub fn from_valid(tenant: TenantId, valid: ValidEvent, received_at: DateTime<Utc>) -> Self {
        let (person, time) = (valid.person.clone(), valid.time);
        let (event, id, source, ty) = valid.into_parts();
        Self {
            tenant,
            person,
            time,
            received_at,
            ty,
            source,
            id,
            expires_at: None,
            event,
        }
    }

    pub fn event_hash(&self) -> String {
        event_hash(&self.source, &self.id)
    }

    /// Every key of the entry, with its event hash computed once.
    pub fn keys(&self) -> EntryKeys {
        let hash = self.event_hash();
        EntryKeys {
            partition: self.partition_key(),
            sort: format!("E#{}#{hash}", time_key(self.time)),
            dedup: format!("T#{}#D#{hash}", self.tenant),
            hash,
        }
    }

    pub fn partition_key(&self) -> String {
        person_partition(&self.tenant, &self.person)
    }

    pub fn sort_key(&self) -> String {
        format!("E#{}#{}", time_key(self.time), self.event_hash())
    }

    pub fn dedup_key(&self) -> String {
        format!("T#{}#D#{}", self.tenant, self.event_hash())
    }
}

/// [`TapeEntry::partition_key`], [`TapeEntry::sort_key`], [`TapeEntry::dedup_key`] and
/// [`TapeEntry::event_hash`] of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryKeys {
    pub partition: String,
    pub sort: String,
    pub dedup: String,
    pub hash: String,
}

/// The partition that holds one person's Tape.
pub fn person_partition(tenant: &TenantId, person: &PersonId) -> String {
    format!("T#{tenant}#P#{person}")
}

/// 128 bits of SHA-256 over (source, id), as hex. Unambiguous: `source` cannot hold NUL
/// in a key that has passed validation, and it is length-prefixed anyway.
pub fn event_hash(source: &str, id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update((source.len() as u64).to_be_bytes());
    hasher.update(source.as_bytes());
    hasher.update(id.as_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// Fixed-width UTC time with microseconds: sorts as text in time order (years 1970-9999).
pub fn time_key(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Sort-key bounds for a time range: `[lower, upper)` as text.
pub fn sort_key_bounds(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> (String, String) {
    let lower = from.map_or_else(|| "E#".to_owned(), |t| format!("E#{}", time_key(t)));
    // '$' sorts right after '#', so "E$" is above every entry key.
    let upper = to.map_or_else(|| "E$".to_owned(), |t| format!("E#{}", time_key(t)));
    (lower, upper)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    Desc,
}

/// A journey query: filters, page size and where to resume.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyQuery {
    pub types: Vec<String>,
    pub source: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: usize,
    pub order: Order,
    /// Resume strictly after this sort key (in `order`).
    pub after: Option<String>,
}

impl Default for JourneyQuery {
    fn default() -> Self {
        Self {
            types: Vec::new(),
            source: None,
            from: None,
            to: None,
            limit: DEFAULT_PAGE,
            order: Order::Asc,
            after: None,
        }
    }
}

/// Sort keys `[lower, upper)`, read strictly after `resume_after` in the query's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub lower: String,
    pub upper: String,
    pub resume_after: Option<String>,
}

/// One problem with a query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamProblem {
    pub parameter: String,
    pub code: &'static str,
    pub detail: String,
}

impl JourneyQuery {
    /// Parses `type` (repeatable), `source`, `from`, `to` (RFC 3339), `limit`, `order`
    /// and `cursor`. Unknown parameters are errors, not silently ignored filters.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Vec<ParamProblem>> {
        let mut query = Self::default();
        let mut cursor = None;
        let mut problems = Vec::new();
        for (name, value) in pairs {
            let mut problem = |code, detail: String| {
                problems.push(ParamProblem {
                    parameter: name.to_owned(),
                    code,
                    detail,
                })
            };
            match name {
                "type" if !value.is_empty() => query.types.push(value.to_owned()),
                "source" if !value.is_empty() => query.source = Some(value.to_owned()),
                "from" | "to" => match DateTime::parse_from_rfc3339(value) {
                    Ok(t) if name == "from" => query.from = Some(t.with_timezone(&Utc)),
                    Ok(t) => query.to = Some(t.with_timezone(&Utc)),
                    Err(e) => problem("invalid_time", format!("{value:?} is not RFC 3339: {e}")),
                },
                "limit" => match value.parse::<usize>() {
                    Ok(n) if (1..=MAX_PAGE).contains(&n) => query.limit = n,
                    _ => problem("invalid_limit", format!("limit must be 1 to {MAX_PAGE}")),
                },
                "order" => match value {
                    "asc" => query.order = Order::Asc,
                    "desc" => query.order = Order::Desc,
                    _ => problem("invalid_order", "order must be asc or desc".to_owned()),
                },
                "cursor" => cursor = Some(value.to_owned()),
                "type" | "source" => problem("empty_filter", format!("{name} must not be empty")),
                _ => problem(
                    "unknown_parameter",
                    format!("{name} is not a known parameter"),
                ),
            }
        }
        if let (Some(from), Some(to)) = (query.from, query.to) {
            if from >= to {
                problems.push(ParamProblem {
                    parameter: "to".to_owned(),
                    code: "empty_range",
                    detail: "to must be later than from".to_owned(),
                });
            }
        }
        if let Some(raw) = cursor {
            match Cursor::decode(&raw) {
                Some(c) if c.order == query.order => query.after = Some(c.after),
                Some(_) => problems.push(ParamProblem {
                    parameter: "cursor".to_owned(),
                    code: "cursor_order_mismatch",
                    detail: "the cursor was issued for the other order".to_owned(),
                }),
                None => problems.push(ParamProblem {
                    parameter: "cursor".to_owned(),
                    code: "invalid_cursor",
                    detail: "the cursor is not one this API issued".to_owned(),
                }),
            }
        }
        if problems.is_empty() {
            Ok(query)
        } else {
            Err(problems)
        }
    }

    /// The sort-key range this page reads, or `None` when the cursor is already past
    /// its end. A cursor from before the range's start is ignored.
    pub fn key_range(&self) -> Option<KeyRange> {
        let (lower, upper) = sort_key_bounds(self.from, self.to);
        let resume_after = match (self.after.as_deref(), self.order) {
            (None, _) => None,
            (Some(a), Order::Asc) if a < lower.as_str() => None,
            (Some(a), Order::Desc) if a >= upper.as_str() => None,
            (Some(a), _) if a < lower.as_str() || a >= upper.as_str() => return None,
            (Some(a), _) => Some(a.to_owned()),
        };
        Some(KeyRange {
            lower,
            upper,
            resume_after,
        })
    }

    /// Whether an entry passes the type and source filters (time is a key range).
    pub fn matches(&self, ty: &str, source: &str) -> bool {
        (self.types.is_empty() || self.types.iter().any(|t| t == ty))
            && self.source.as_deref().is_none_or(|s| s == source)
    }
}

/// Where a page ended. Opaque to clients; it holds a sort key only, never a partition,
/// so it cannot point into another tenant's or person's Tape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "k")]
    pub after: String,
    #[serde(rename = "o")]
    pub order: Order,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursor serializes"))
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let cursor: Cursor = serde_json::from_slice(&bytes).ok()?;
        is_entry_sort_key(&cursor.after).then_some(cursor)
    }
}

fn is_entry_sort_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("E#") else {
        return false;
    };
    let Some((time, hash)) = rest.split_once('#') else {
        return false;
    };
    DateTime::parse_from_rfc3339(time).is_ok()
        && hash.len() == 32
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An entry as read back: its sort key (for cursors) and the stored CloudEvent JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub sort_key: String,
    /// The CloudEvent's type.
    pub ty: String,
    /// When it leaves its tenant's retention (Unix seconds), if it ever does.
    pub expires_at: Option<i64>,
    pub event: String,
}

/// One page of a journey.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JourneyPage {
    pub events: Vec<StoredEvent>,
    /// Present when more entries may follow.
    pub next: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(time: &str, id: &str) -> TapeEntry {
        TapeEntry {
            tenant: TenantId::parse("acme").unwrap(),
            person: PersonId::parse("alice").unwrap(),
            time: time.parse().unwrap(),
            received_at: time.parse().unwrap(),
            ty: "t".into(),
            source: "/s".into(),
            id: id.into(),
            expires_at: None,
            event: "{}".into(),
        }
    }

    #[test]
    fn keys_are_the_single_key_functions() {
        let e = entry("2026-01-01T00:00:00.5Z", "k");
        let keys = e.keys();
        assert_eq!(
            (keys.partition, keys.sort, keys.dedup, keys.hash),
            (
                e.partition_key(),
                e.sort_key(),
                e.dedup_key(),
                e.event_hash()
            )
        );
    }

    #[test]
    fn sort_keys_order_by_event_time_then_hash() {
        let early = entry("2026-01-01T00:00:00.5Z", "b").sort_key();
        let late = entry("2026-01-01T00:00:01Z", "a").sort_key();
        assert!(early < late, "{early} < {late}");
        let (lo, hi) = sort_key_bounds(None, None);
        assert!(lo < early && late < hi);
    }

    #[test]
    fn the_dedup_key_ignores_time_and_person_but_not_tenant() {
        let a = entry("2026-01-01T00:00:00Z", "x");
        let mut b = entry("2027-01-01T00:00:00Z", "x");
        b.person = PersonId::parse("bob").unwrap();
        assert_eq!(a.dedup_key(), b.dedup_key());
        b.tenant = TenantId::parse("other").unwrap();
        assert_ne!(a.dedup_key(), b.dedup_key());
    }

    #[test]
    fn event_hash_is_unambiguous_between_source_and_id() {
        assert_ne!(event_hash("ab", "c"), event_hash("a", "bc"));
    }

    #[test]
    fn query_parameters_are_parsed_and_every_problem_reported() {
        let q = JourneyQuery::from_pairs([
            ("type", "a"),
            ("type", "b"),
            ("from", "2026-01-01T00:00:00+01:00"),
            ("limit", "5"),
            ("order", "desc"),
        ])
        .unwrap();
        assert_eq!(q.types, ["a", "b"]);
        assert_eq!(q.from.unwrap().to_rfc3339(), "2025-12-31T23:00:00+00:00");
        assert_eq!((q.limit, q.order), (5, Order::Desc));

        let problems = JourneyQuery::from_pairs([
            ("colour", "red"),
            ("from", "yesterday"),
            ("limit", "0"),
            ("cursor", "garbage"),
        ])
        .unwrap_err();
        let codes: Vec<_> = problems.iter().map(|p| p.code).collect();
        assert_eq!(
            codes,
            [
                "unknown_parameter",
                "invalid_time",
                "invalid_limit",
                "invalid_cursor"
            ]
        );
    }

    #[test]
    fn key_ranges_follow_the_cursor_and_end_past_it() {
        let at = |t: &str| entry(t, "x").sort_key();
        let mut q = JourneyQuery {
            from: Some("2026-01-01T00:00:00Z".parse().unwrap()),
            to: Some("2026-02-01T00:00:00Z".parse().unwrap()),
            ..JourneyQuery::default()
        };
        let cases = [
            (Order::Asc, "2026-01-15T00:00:00Z", Some(true)),
            (Order::Asc, "2025-12-01T00:00:00Z", Some(false)),
            (Order::Asc, "2026-03-01T00:00:00Z", None),
            (Order::Desc, "2026-03-01T00:00:00Z", Some(false)),
            (Order::Desc, "2025-12-01T00:00:00Z", None),
        ];
        for (order, after, expected) in cases {
            q.order = order;
            q.after = Some(at(after));
            let got = q.key_range().map(|r| r.resume_after.is_some());
            assert_eq!(got, expected, "{order:?} after {after}");
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_foreign_keys() {
        let key = entry("2026-01-01T00:00:00Z", "x").sort_key();
        let cursor = Cursor {
            after: key,
            order: Order::Asc,
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        let forged = Cursor {
            after: "T#other#P#bob".into(),
            order: Order::Asc,
        };
        assert_eq!(Cursor::decode(&forged.encode()), None);
        let q = JourneyQuery::from_pairs([("order", "desc"), ("cursor", &forged.encode())]);
        assert!(q.is_err());
    }
}
