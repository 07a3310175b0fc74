//! Forwarding: a tenant's events, as archived, copied on to destinations the tenant
//! owns: an S3 prefix (the same gzip NDJSON objects and layout as the archive) or an
//! EventBridge bus (one event per CloudEvent).
//!
//! | document            | `pk`                     | `sk`                         |
//! |---------------------|--------------------------|------------------------------|
//! | destinations        | `T#{tenant}#FORWARDING`  | `CONFIG`                     |
//! | delivery status     | `T#{tenant}#FORWARDING`  | `STATUS#{destination}`       |
//! | delivery to retry   | `T#{tenant}#FWDRETRY`    | `{destination}#{object key}` |

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::TenantId;
use crate::problem::FieldProblem;

pub const MAX_DESTINATIONS: usize = 5;
/// EventBridge's source and detail type for forwarded events.
pub const FORWARD_SOURCE: &str = "cjaas.journey";
pub const FORWARD_DETAIL_TYPE: &str = "JourneyEvent";

pub fn config_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#FORWARDING")
}
pub const CONFIG: &str = "CONFIG";
pub fn status_sk(destination: &str) -> String {
    format!("STATUS#{destination}")
}
pub fn retry_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#FWDRETRY")
}
pub fn retry_sk(destination: &str, object_key: &str) -> String {
    format!("{destination}#{object_key}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// Objects go to `s3://{bucket}/{prefix}{archive key without "archive/"}`.
    S3 { bucket: String, prefix: String },
    /// Events go to the bus (its ARN: it may be in another account).
    Eventbridge { bus_arn: String },
}

/// Unknown fields are refused by [`Target`] (serde cannot refuse them here, past
/// `flatten`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    pub id: String,
    #[serde(flatten)]
    pub target: Target,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardingConfig {
    pub destinations: Vec<Destination>,
}

/// How deliveries to one destination went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    pub delivered_objects: u64,
    pub delivered_events: u64,
    pub failed_attempts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// S3's rules for bucket names, minus the legacy ones.
fn valid_bucket(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !bucket.contains("..")
}

fn valid_prefix(prefix: &str) -> bool {
    prefix.len() <= 512
        && !prefix.starts_with('/')
        && !prefix.split('/').any(|part| part == "." || part == "..")
        && !prefix.chars().any(char::is_control)
}

/// `arn:{partition}:events:{region}:{account}:event-bus/{name}`.
fn valid_bus_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let name = resource.strip_prefix("event-bus/").unwrap_or("");
    arn_ == "arn"
        && partition.starts_with("aws")
        && service == "events"
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (1..=256).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
}

impl ForwardingConfig {
    pub fn validate(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let mut problem = |field: String, code: &'static str, detail: &str| {
            problems.push(FieldProblem {
                field,
                code,
                detail: detail.to_owned(),
            })
        };
        if self.destinations.len() > MAX_DESTINATIONS {
            problem(
                "destinations".into(),
                "too_many_destinations",
                "at most 5 destinations",
            );
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, d) in self.destinations.iter().enumerate() {
            if !valid_id(&d.id) {
                problem(
                    format!("destinations/{i}/id"),
                    "invalid_id",
                    "an id is 1 to 64 of a-z, 0-9, - and _",
                );
            } else if !ids.insert(&d.id) {
                problem(
                    format!("destinations/{i}/id"),
                    "duplicate_id",
                    "ids must be unique",
                );
            }
            match &d.target {
                Target::S3 { bucket, prefix } => {
                    if !valid_bucket(bucket) {
                        problem(
                            format!("destinations/{i}/bucket"),
                            "invalid_bucket",
                            "not an S3 bucket name",
                        );
                    }
                    if !valid_prefix(prefix) {
                        problem(
                            format!("destinations/{i}/prefix"),
                            "invalid_prefix",
                            "a prefix is at most 512 characters, relative, without . or .. parts",
                        );
                    }
                }
                Target::Eventbridge { bus_arn } => {
                    if !valid_bus_arn(bus_arn) {
                        problem(format!("destinations/{i}/bus_arn"), "invalid_bus_arn", "not an EventBridge bus ARN (arn:aws:events:{region}:{account}:event-bus/{name})");
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Where an archive object goes under an S3 destination's prefix.
pub fn s3_key(prefix: &str, archive_key: &str) -> String {
    let relative = archive_key
        .strip_prefix(crate::archive::DATA_PREFIX)
        .unwrap_or(archive_key);
    format!("{prefix}{relative}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn destinations_are_validated() {
        let config: ForwardingConfig = serde_json::from_value(json!({"destinations": [
            {"id": "lake", "type": "s3", "bucket": "acme-lake", "prefix": "cjaas/"},
            {"id": "bus", "type": "eventbridge", "bus_arn": "arn:aws:events:eu-west-1:123456789012:event-bus/journeys"},
        ]}))
        .unwrap();
        assert!(config.validate().is_ok());
        let bad: ForwardingConfig = serde_json::from_value(json!({"destinations": [
            {"id": "Lake!", "type": "s3", "bucket": "Acme_Lake", "prefix": "../x"},
            {"id": "bus", "type": "eventbridge", "bus_arn": "arn:aws:sqs:eu-west-1:123456789012:q"},
        ]}))
        .unwrap();
        let codes: Vec<_> = bad
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|p| p.code)
            .collect();
        assert_eq!(
            codes,
            [
                "invalid_id",
                "invalid_bucket",
                "invalid_prefix",
                "invalid_bus_arn"
            ]
        );
        assert!(serde_json::from_value::<ForwardingConfig>(
            json!({"destinations": [{"id": "x", "type": "ftp"}]})
        )
        .is_err());
        assert_eq!(
            s3_key(
                "cjaas/",
                "archive/tenant=acme/date=2026-11-23/hour=10/b.json.gz"
            ),
            "cjaas/tenant=acme/date=2026-11-23/hour=10/b.json.gz"
        );
    }
}
