//! Delivers archive objects to tenants' own destinations: an S3 prefix (the object as
//! it is, so the tenant's copy has the archive's layout) or an EventBridge bus (one
//! event per CloudEvent, refused entries resent). The destination's policy must let
//! this deployment's role write to it.

use async_trait::async_trait;

use cjaas_core::archive;
use cjaas_core::forwarding::{s3_key, Target, FORWARD_DETAIL_TYPE, FORWARD_SOURCE};
use cjaas_core::ports::{BusEvent, EventBus, Forwarder, StoreError};

use crate::{EventBridgeBus, S3Objects};

pub struct AwsForwarder {
    s3: aws_sdk_s3::Client,
    events: aws_sdk_eventbridge::Client,
    /// The deployment's own buckets (archive, dead letters): never a destination, or
    /// one tenant could plant objects where another tenant's data is read from.
    own_buckets: Vec<String>,
}

impl AwsForwarder {
    pub fn new(
        s3: aws_sdk_s3::Client,
        events: aws_sdk_eventbridge::Client,
        own_buckets: Vec<String>,
    ) -> Self {
        Self {
            s3,
            events,
            own_buckets,
        }
    }
}

#[async_trait]
impl Forwarder for AwsForwarder {
    async fn deliver(
        &self,
        target: &Target,
        archive_key: &str,
        data: &[u8],
    ) -> Result<u64, StoreError> {
        let events = archive::decode(data).map_err(|e| StoreError::Rejected(e.to_string()))?;
        match target {
            Target::S3 { bucket, .. } if self.own_buckets.contains(bucket) => {
                return Err(StoreError::Rejected(format!(
                    "{bucket} belongs to this CJaaS deployment and cannot be a destination"
                )));
            }
            Target::S3 { bucket, prefix } => {
                S3Objects::new(self.s3.clone(), bucket.clone())
                    .put(
                        &s3_key(prefix, archive_key),
                        data.to_vec(),
                        "application/gzip",
                    )
                    .await?;
            }
            Target::Eventbridge { bus_arn } => {
                let entries: Vec<BusEvent> = events
                    .iter()
                    .map(|event| BusEvent {
                        source: FORWARD_SOURCE.into(),
                        detail_type: FORWARD_DETAIL_TYPE.into(),
                        detail: serde_json::to_string(event).expect("archived events serialize"),
                    })
                    .collect();
                EventBridgeBus::new(self.events.clone(), bus_arn.clone())
                    .publish(&entries)
                    .await?;
            }
        }
        Ok(events.len() as u64)
    }
}
