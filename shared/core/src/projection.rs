//! The lean projection of the Tape: per entry, only what analytics reads (event time,
//! type, source and expiry), kept beside the entry and written in the same
//! transaction, so a pass over a tenant never decodes whole CloudEvents.
//!
//! - Embedded store: table `tape_steps`, key `(person partition, time µs, event hash)`
//!   (the same order as the entry's sort key), value [`encode_step`].
//! - DynamoDB: a sibling item in the entry's partition, `sk = S#{time}#{hash}`, in the
//!   entry's `TransactWriteItems`.
//!
//! Entries written before the projection existed have none. A store reads the
//! projection only once it is known to be complete (a fresh store, or after the
//! backfill operator command); until then [`steps_from_entries`] decodes the full
//! entries, as before.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fold::time_of_sort_key;
use crate::ids::{PersonId, TenantId};
use crate::ports::{StoreError, TapeStore};
use crate::tape::{JourneyQuery, Order, TapeEntry};
use crate::type_ids::TypeIds;

/// Steps per page.
pub const STEP_PAGE: usize = 1000;

/// What one run of the projection backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BackfillReport {
    pub entries_scanned: u64,
    pub projections_written: u64,
    /// The whole Tape is migrated: reads use the projection from now on.
    pub complete: bool,
}

/// One Tape entry as analytics sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapeStep {
    pub time: DateTime<Utc>,
    pub ty: String,
    pub source: String,
    /// When the entry leaves its tenant's retention (Unix seconds).
    pub expires_at: Option<i64>,
}

impl TapeStep {
    pub fn of(entry: &TapeEntry) -> Self {
        Self {
            time: entry.time,
            ty: entry.ty.clone(),
            source: entry.source.clone(),
            expires_at: entry.expires_at,
        }
    }
}

/// One page of a person's steps, in Tape order (expired entries left out).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepPage {
    pub steps: Vec<TapeStep>,
    /// Resume strictly after this entry sort key; present when more may follow.
    pub next: Option<String>,
}

/// The value half of a step: `[version 1][flags][expires_at i64 LE, if flag 1]
/// [type length u16 LE][type][source]`. The time and hash are in the key.
pub fn encode_step(ty: &str, source: &str, expires_at: Option<i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + ty.len() + source.len());
    out.push(1);
    match expires_at {
        Some(at) => {
            out.push(1);
            out.extend_from_slice(&at.to_le_bytes());
        }
        None => out.push(0),
    }
    let len = u16::try_from(ty.len()).expect("types are short (validated at ingest)");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(ty.as_bytes());
    out.extend_from_slice(source.as_bytes());
    out
}

/// A step's stored value, borrowed from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepValue<'a> {
    pub ty: &'a str,
    pub source: &'a str,
    pub expires_at: Option<i64>,
}

/// The inverse of [`encode_step`]; `None` for bytes it did not write.
pub fn decode_step(bytes: &[u8]) -> Option<StepValue<'_>> {
    let (ty, expires_at, source) = split_step(bytes)?;
    Some(StepValue {
        ty: std::str::from_utf8(ty).ok()?,
        source: std::str::from_utf8(source).ok()?,
        expires_at,
    })
}

/// A step's type, still as bytes, and its expiry, without checking any UTF-8: for a
/// reader that matches the type against the names it has ([`StepBatch::type_id_of`]);
/// `None` for bytes [`encode_step`] did not write.
pub fn decode_step_type(bytes: &[u8]) -> Option<(&[u8], Option<i64>)> {
    split_step(bytes).map(|(ty, expires_at, _)| (ty, expires_at))
}

/// (type, expiry, source) of a step's value.
fn split_step(bytes: &[u8]) -> Option<(&[u8], Option<i64>, &[u8])> {
    let (&version, rest) = bytes.split_first()?;
    let (&flags, mut rest) = rest.split_first()?;
    if version != 1 || flags > 1 {
        return None;
    }
    let expires_at = if flags == 1 {
        let (at, tail) = rest.split_first_chunk::<8>()?;
        rest = tail;
        Some(i64::from_le_bytes(*at))
    } else {
        None
    };
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let len = u16::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return None;
    }
    let (ty, source) = rest.split_at(len);
    Some((ty, expires_at, source))
}

/// The event hash of an entry's sort key as a number that sorts like its hex.
pub fn hash_number(hex_hash: &str) -> Option<u128> {
    (hex_hash.len() == 32)
        .then(|| u128::from_str_radix(hex_hash, 16).ok())
        .flatten()
}

/// The entry sort key for a step's key parts (the inverse of [`step_key_of_sort_key`]).
pub fn sort_key_of_step(time_us: i64, hash: u128) -> Option<String> {
    let time = DateTime::from_timestamp_micros(time_us)?;
    Some(format!("E#{}#{hash:032x}", crate::tape::time_key(time)))
}

/// `(time µs, hash)` of an entry sort key `E#{time}#{hash}`.
pub fn step_key_of_sort_key(sort_key: &str) -> Option<(i64, u128)> {
    let time = time_of_sort_key(sort_key)?;
    let hash = sort_key.rsplit('#').next().and_then(hash_number)?;
    Some((time.timestamp_micros(), hash))
}

/// The fallback for entries without a projection: one journey page, each entry's
/// source read out of its CloudEvent.
pub async fn steps_from_entries(
    tape: &(impl TapeStore + ?Sized),
    tenant: &TenantId,
    person: &PersonId,
    from: Option<DateTime<Utc>>,
    after: Option<String>,
) -> Result<StepPage, StoreError> {
    #[derive(Deserialize)]
    struct Source<'a> {
        #[serde(borrow)]
        source: std::borrow::Cow<'a, str>,
    }
    let query = JourneyQuery {
        from,
        limit: STEP_PAGE,
        order: Order::Asc,
        after,
        ..JourneyQuery::default()
    };
    let page = tape.query(tenant, person, &query).await?;
    let mut steps = Vec::with_capacity(page.events.len());
    for event in page.events {
        let Some(time) = time_of_sort_key(&event.sort_key) else {
            continue;
        };
        let source = serde_json::from_str::<Source>(&event.event)
            .map(|s| s.source.into_owned())
            .map_err(|e| StoreError::Transient(format!("unreadable tape entry: {e}")))?;
        steps.push(TapeStep {
            time,
            ty: event.ty,
            source,
            expires_at: event.expires_at,
        });
    }
    Ok(StepPage {
        steps,
        next: page.next.map(|c| c.after),
    })
}

/// Persons whose first page of steps the default [`steps_of_persons`] reads at once.
pub const STEP_CONCURRENCY: usize = 16;

/// One step of a [`StepBatch`]: its type is an index into the batch's types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeanStep {
    pub time: DateTime<Utc>,
    pub ty: u32,
    /// When the entry leaves its tenant's retention (Unix seconds).
    pub expires_at: Option<i64>,
}

/// The steps of the first few persons of a list, read together, each type named once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepBatch {
    /// The distinct types of the batch; a step's `ty` is an id of these.
    pub types: TypeIds,
    /// The steps of the first `persons.len()` persons asked for, in that order, each in
    /// Tape order (expired entries left out).
    pub persons: Vec<Vec<LeanStep>>,
    /// Set when the last person's steps were cut short: read the rest with
    /// [`TapeStore::steps`], after this sort key.
    pub next: Option<String>,
}

impl StepBatch {
    /// Adds a person's page of steps as the batch's next person.
    pub fn push_page(&mut self, page: StepPage) {
        let steps = (page.steps.iter())
            .map(|s| LeanStep {
                time: s.time,
                ty: self.types.id(&s.ty),
                expires_at: s.expires_at,
            })
            .collect();
        self.persons.push(steps);
        self.next = page.next;
    }

    /// The steps held, over every person.
    pub fn len(&self) -> usize {
        self.persons.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What `TapeStore::steps_of_persons` does for a store without a batch read: each
/// person's first page through [`TapeStore::steps`], [`STEP_CONCURRENCY`] persons at
/// once, stopping after the first person with more pages or once `max_steps` are held.
pub async fn steps_of_persons_by_page(
    tape: &(impl TapeStore + ?Sized),
    tenant: &TenantId,
    persons: &[PersonId],
    from: Option<DateTime<Utc>>,
    max_steps: usize,
) -> Result<StepBatch, StoreError> {
    let mut batch = StepBatch::default();
    for chunk in persons.chunks(STEP_CONCURRENCY) {
        let reads: Vec<_> = (chunk.iter())
            .map(|person| tape.steps(tenant, person, from, None))
            .collect();
        let pages = futures::future::try_join_all(reads).await?;
        for page in pages {
            batch.push_page(page);
            if batch.next.is_some() || batch.len() >= max_steps {
                return Ok(batch);
            }
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn steps_round_trip(ty in "\\PC{0,80}", source in "\\PC{0,200}", expires in proptest::option::of(any::<i64>())) {
            let bytes = encode_step(&ty, &source, expires);
            let back = decode_step(&bytes).unwrap();
            prop_assert_eq!(back, StepValue { ty: &ty, source: &source, expires_at: expires });
        }

        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_step(&bytes);
        }

        #[test]
        fn step_keys_sort_like_sort_keys(a in 0i64..253_402_300_799_000_000, b in 0i64..253_402_300_799_000_000, ha in any::<u128>(), hb in any::<u128>()) {
            let (ka, kb) = (sort_key_of_step(a, ha).unwrap(), sort_key_of_step(b, hb).unwrap());
            prop_assert_eq!((a, ha).cmp(&(b, hb)), ka.cmp(&kb));
            prop_assert_eq!(step_key_of_sort_key(&ka), Some((a, ha)));
        }
    }

    #[test]
    fn a_type_read_as_bytes_gets_the_id_of_its_name() {
        let mut batch = StepBatch::default();
        let value = encode_step("cart.added", "/s", Some(7));
        let (ty, expires) = decode_step_type(&value).unwrap();
        assert_eq!((ty, expires), (&b"cart.added"[..], Some(7)));
        let id = batch.types.id_of_bytes(ty).unwrap();
        assert_eq!(batch.types.id("cart.added"), id);
        assert_eq!(batch.types.id_of_bytes(b"page.viewed"), Some(id + 1));
        assert_eq!(batch.types.id_of_bytes(&[0xff, 0xfe]), None, "not UTF-8");
        assert_eq!(decode_step_type(&[2, 0, 0, 0]), None);
    }

    #[test]
    fn foreign_bytes_are_refused() {
        assert_eq!(decode_step(&[]), None);
        assert_eq!(decode_step(&[2, 0, 0, 0]), None);
        assert_eq!(decode_step(&[1, 0, 9, 0, b'a']), None);
    }
}
