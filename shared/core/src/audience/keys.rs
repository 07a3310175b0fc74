//! Where audiences keep their documents (all under the tenant), and the events a
//! membership change appends.
//!
//! | document               | `pk`                          | `sk`                                |
//! |------------------------|-------------------------------|-------------------------------------|
//! | audience (latest)      | `T#{tenant}#AUDIENCES`        | `{audience id}`                     |
//! | audience version       | `T#{tenant}#AUDIENCE#{id}`    | `{version:08}`                      |
//! | membership             | `T#{tenant}#AUDM#{id}`        | `{person}` (the alias group's root) |
//! | daily size             | `T#{tenant}#AUDSIZE#{id}`     | `{YYYY-MM-DD}`                      |
//! | backfill status        | `T#{tenant}#AUDSTATUS`        | `{audience id}`                     |
//! | time check             | `T#{tenant}#AUDTIMERS`        | `{due time}#{audience id}#{person}` |
//! | audience count (AWS)   | `T#{tenant}#AUDIENCES#COUNT`  | `audience-` (see `ports::Limit`)    |

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use crate::ids::{PersonId, TenantId};

pub const ENTERED: &str = "cjaas.audience.entered";
pub const EXITED: &str = "cjaas.audience.exited";
const SOURCE_PREFIX: &str = "cjaas://audiences/";
const BACKFILL_SUFFIX: &str = "/backfill";

pub fn audiences(tenant: &TenantId) -> String {
    format!("T#{tenant}#AUDIENCES")
}
pub fn versions(tenant: &TenantId, id: &str) -> String {
    format!("T#{tenant}#AUDIENCE#{id}")
}
pub fn version(version: u32) -> String {
    format!("{version:08}")
}
pub fn members(tenant: &TenantId, id: &str) -> String {
    format!("T#{tenant}#AUDM#{id}")
}
pub fn sizes(tenant: &TenantId, id: &str) -> String {
    format!("T#{tenant}#AUDSIZE#{id}")
}
pub fn day(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}
pub fn statuses(tenant: &TenantId) -> String {
    format!("T#{tenant}#AUDSTATUS")
}
pub fn timers(tenant: &TenantId) -> String {
    format!("T#{tenant}#AUDTIMERS")
}
pub fn timer(due: DateTime<Utc>, audience: &str, person: &PersonId) -> String {
    format!("{}#{audience}#{person}", crate::tape::time_key(due))
}
/// A timer key's audience and person. The due time and the audience id never hold
/// `#`, so everything after the second one is the person.
pub fn timer_parts(sk: &str) -> Option<(&str, &str)> {
    let (_, rest) = sk.split_once('#')?;
    rest.split_once('#')
}

/// The source of a membership change's event: `cjaas://audiences/{id}`, with
/// `/backfill` when a backfill made it (rules never see those).
pub fn source(audience: &str, backfill: bool) -> String {
    let suffix = if backfill { BACKFILL_SUFFIX } else { "" };
    format!("{SOURCE_PREFIX}{audience}{suffix}")
}

/// Whether an event CJaaS appended itself (`cjaas://…`) may still trigger rules: a
/// membership change does, unless a backfill made it.
pub fn fires_rules(source: &str) -> bool {
    source.starts_with(SOURCE_PREFIX) && !source.ends_with(BACKFILL_SUFFIX)
}

/// Membership changes are never an audience's input (no loops).
pub fn is_audience_event(ty: &str) -> bool {
    ty.starts_with("cjaas.audience.")
}

/// The event id of a person's `seq`-th change in an audience: the same on every
/// retry, so the Tape keeps the change once. The person id is hashed, not spelled.
pub fn change_id(audience: &str, version: u32, person: &PersonId, seq: u64) -> String {
    let mut hash = Sha256::new();
    for part in [
        audience,
        &version.to_string(),
        person.as_str(),
        &seq.to_string(),
    ] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    format!("{audience}.{seq}.{}", hex::encode(&digest[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_ids_are_stable_and_distinct() {
        let p = PersonId::parse("p-1").unwrap();
        let q = PersonId::parse("p-2").unwrap();
        let id = change_id("audience-a", 1, &p, 1);
        assert_eq!(id, change_id("audience-a", 1, &p, 1));
        assert!(!id.contains("p-1"));
        for other in [
            change_id("audience-a", 1, &q, 1),
            change_id("audience-a", 2, &p, 1),
            change_id("audience-a", 1, &p, 2),
            change_id("audience-b", 1, &p, 1),
        ] {
            assert_ne!(id, other);
        }
    }

    #[test]
    fn only_live_membership_changes_fire_rules() {
        assert!(fires_rules(&source("audience-a", false)));
        assert!(!fires_rules(&source("audience-a", true)));
        assert!(!fires_rules("cjaas://recommendation/rule-x"));
        let person = PersonId::parse("p-1").unwrap();
        let sk = timer(Utc::now(), "audience-a", &person);
        assert_eq!(timer_parts(&sk), Some(("audience-a", "p-1")));
    }
}
