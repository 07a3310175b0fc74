//! The CJaaS event bus on EventBridge. `PutEvents` can accept some entries and refuse
//! others (`FailedEntryCount`), so refused entries are sent again with backoff.

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use std::time::Duration;

use cjaas_core::ports::{BusEvent, EventBus, StoreError};

use crate::store_error;

/// `PutEvents` takes at most 10 entries.
const ENTRIES_PER_CALL: usize = 10;
const ATTEMPTS: u32 = 4;

pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: String) -> Self {
        Self { client, bus_name }
    }

    fn entry(&self, event: &BusEvent) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(&event.source)
            .detail_type(&event.detail_type)
            .detail(&event.detail)
            .build()
    }

    /// Sends `entries`; returns the ones EventBridge refused.
    async fn put(
        &self,
        entries: Vec<PutEventsRequestEntry>,
    ) -> Result<Vec<PutEventsRequestEntry>, StoreError> {
        let output = self
            .client
            .put_events()
            .set_entries(Some(entries.clone()))
            .send()
            .await
            .map_err(store_error)?;
        if output.failed_entry_count() == 0 {
            return Ok(Vec::new());
        }
        // Results come back in request order; a failed one carries an error code.
        Ok(entries
            .into_iter()
            .zip(output.entries())
            .filter(|(_, result)| result.error_code().is_some())
            .map(|(entry, _)| entry)
            .collect())
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), StoreError> {
        for chunk in events.chunks(ENTRIES_PER_CALL) {
            let mut pending: Vec<_> = chunk.iter().map(|e| self.entry(e)).collect();
            for attempt in 0..ATTEMPTS {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                pending = match self.put(pending.clone()).await {
                    Ok(refused) => refused,
                    Err(StoreError::Transient(_)) if attempt + 1 < ATTEMPTS => pending,
                    Err(e) => return Err(e),
                };
                if pending.is_empty() {
                    break;
                }
            }
            if !pending.is_empty() {
                return Err(StoreError::Transient(format!(
                    "EventBridge refused {} event(s) after {ATTEMPTS} attempts",
                    pending.len()
                )));
            }
        }
        Ok(())
    }
}
