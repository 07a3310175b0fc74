//! Erasure (GDPR): a job that removes a person, every alias of theirs included, from
//! every store. The job document doubles as the audit record: once the job is done it
//! keeps when, by which credential and how much was removed, and no personal data.
//!
//! | document     | `pk`                   | `sk`       |
//! |--------------|------------------------|------------|
//! | erasure job  | `T#{tenant}#ERASURES`  | `{job id}` |

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::TenantId;
use crate::profile::{new_id, valid_view_id};

pub fn jobs(tenant: &TenantId) -> String {
    format!("T#{tenant}#ERASURES")
}

pub fn new_job_id() -> String {
    new_id("erasure")
}

pub fn valid_job_id(id: &str) -> bool {
    valid_view_id(id)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Completed,
}

/// How much each store gave up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// Person ids erased: the person and their aliases.
    pub ids: u64,
    pub tape_events: u64,
    pub alias_links: u64,
    pub profile_snapshots: u64,
    pub analytics_digests: u64,
    pub dead_letters: u64,
    /// Firings in rules' delivery logs that named one of the ids.
    #[serde(default)]
    pub delivery_firings: u64,
    pub archive_events: u64,
    pub archive_objects_rewritten: u64,
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
    /// The person to erase, kept only until the job completes; never served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl ErasureJob {
    /// What the API serves: everything but the subject.
    pub fn public(&self) -> Self {
        Self {
            subject: None,
            ..self.clone()
        }
    }
}
