//! What several of these tests share.

use chrono::{DateTime, Utc};
use serde_json::Value;

use cjaas_core::event::validate_raw;
use cjaas_core::ids::TenantId;
use cjaas_core::tape::TapeEntry;

/// The Tape entry of `event` (a structured-mode CloudEvent, validated as ingest
/// validates it) received at `received_at`, with no expiry.
pub fn tape_entry(tenant: &TenantId, event: Value, received_at: DateTime<Utc>) -> TapeEntry {
    let valid = validate_raw(0, &event.to_string(), received_at).expect("a valid CloudEvent");
    TapeEntry::from_valid(tenant.clone(), valid, received_at)
}
