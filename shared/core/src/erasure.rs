//! Erasure (GDPR): a job that removes a person, every alias of theirs included, from
//! every store. The job document doubles as the receipt: once the job is done it keeps
//! when, by which credential, and how much was removed from where, and no personal data.
//!
//! | document        | `pk`                           | `sk`                    |
//! |-----------------|--------------------------------|-------------------------|
//! | erasure job     | `T#{tenant}#ERASURES`          | `{job id}`              |
//! | its subject     | `T#{tenant}#ERASURE_SUBJECTS`  | `{job id}`              |
//! | tombstone       | `T#{tenant}#ERASED`            | [`tombstone_key`]       |
//!
//! The subject (the person id) lives in its own document, deleted once the person is
//! erased, so the job document never holds it. A tombstone holds no personal data (a
//! hash of the tenant and person id) and lives as long as the event stream keeps
//! records: the live stream and replays skip the person's records from before the
//! erasure that are still on the stream.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{PersonId, TenantId};
use crate::resource_id::{self, ResourceKind};

pub fn jobs(tenant: &TenantId) -> String {
    format!("T#{tenant}#ERASURES")
}

pub fn subjects(tenant: &TenantId) -> String {
    format!("T#{tenant}#ERASURE_SUBJECTS")
}

pub fn tombstones(tenant: &TenantId) -> String {
    format!("T#{tenant}#ERASED")
}

/// How long a tombstone outlives its erasure unless told otherwise: a day more than
/// a week, the longest Kinesis retention short of the extended (paid) retention.
pub const DEFAULT_TOMBSTONE_TTL: Duration = Duration::hours(8 * 24);

/// The tombstone's key: SHA-256 over the length-prefixed tenant and person id, hex.
pub fn tombstone_key(tenant: &TenantId, person: &PersonId) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"cjaas-erased\0");
    for part in [tenant.as_str(), person.as_str()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// A person's events that reached the stream before `erased_at` are erased; the ones
/// after are a new person's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub erased_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The subject document's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub person: String,
}

pub fn new_job_id() -> String {
    ResourceKind::Erasure.new_id()
}

pub fn valid_job_id(id: &str) -> bool {
    resource_id::valid(id)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Completed,
}

/// The receipt: how much each store gave up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Removed {
    /// Person ids erased: the person and their aliases.
    pub ids: u64,
    /// The Tape: entries (with their dedup marks, counters and change-feed rows).
    pub tape_events: u64,
    pub alias_links: u64,
    pub profile_snapshots: u64,
    pub analytics_digests: u64,
    /// Rules' per-person state: cooldowns and absence timers.
    pub rule_state: u64,
    pub dead_letters: u64,
    /// Firings in rules' delivery logs that named one of the ids.
    #[serde(default)]
    pub delivery_firings: u64,
    /// Audience memberships and pending membership checks of the ids.
    #[serde(default)]
    pub audience_memberships: u64,
    /// Archive events removed, from how many objects rewritten or deleted.
    pub archive_events: u64,
    pub archive_objects_rewritten: u64,
    pub archive_objects_deleted: u64,
    /// The embedded default's local stream and live log (0 in AWS, where Kinesis cannot
    /// be rewritten and the tombstone applies instead).
    pub local_log_records: u64,
    /// The embedded default rewrote its database file, so no freed page keeps a copy.
    pub storage_rewritten: bool,
    /// Until when the live stream and replays skip the person's earlier records that
    /// are still on the stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_skipped_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureJob {
    pub id: String,
    pub status: JobStatus,
    pub requested_at: DateTime<Utc>,
    /// The API key (or token's key) that asked: the tenant's credential, not the person.
    pub requested_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    pub removed: Removed,
    /// Set once everything of the person is gone and their subject document deleted;
    /// what is left is making the storage forget (and marking the job completed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
    /// The person, in jobs made before the subject moved to its own document. Never
    /// served, and dropped when the job runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl ErasureJob {
    /// What the API serves: everything but the subject and the worker's progress.
    pub fn public(&self) -> Self {
        Self {
            subject: None,
            erased: false,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstone_keys_are_tenant_scoped_and_hold_no_id() {
        let (acme, other) = (
            TenantId::parse("acme").unwrap(),
            TenantId::parse("other").unwrap(),
        );
        let ana = PersonId::parse("ana@example.com").unwrap();
        let key = tombstone_key(&acme, &ana);
        assert_eq!(key.len(), 64);
        assert!(!key.contains("ana"));
        assert_ne!(key, tombstone_key(&other, &ana));
        assert_eq!(key, tombstone_key(&acme, &ana));
    }

    #[test]
    fn old_receipts_still_read() {
        let old = r#"{"ids":1,"tape_events":2,"alias_links":0,"profile_snapshots":0,
            "analytics_digests":0,"dead_letters":0,"archive_events":1,"archive_objects_rewritten":1}"#;
        let removed: Removed = serde_json::from_str(old).unwrap();
        assert_eq!((removed.tape_events, removed.local_log_records), (2, 0));
    }
}
