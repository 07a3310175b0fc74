//! The CJaaS event bus on EventBridge. `PutEvents` can accept some entries and refuse
//! others (`FailedEntryCount`), so refused entries are sent again with backoff.

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use std::time::Duration;

use cjaas_core::ports::{BusEvent, EventBus, StoreError};

use crate::store_error;

/// `PutEvents` takes at most 10 entries and 256 KB in all.
const ENTRIES_PER_CALL: usize = 10;
const BYTES_PER_CALL: usize = 256 * 1024;

/// An entry's size as EventBridge counts it: source, detail type, detail and the time.
fn entry_size(event: &BusEvent) -> usize {
    event.source.len() + event.detail_type.len() + event.detail.len() + 14
}

/// Splits events into calls within the entry and size limits; an event over the size
/// limit alone can never be sent.
fn calls(events: &[BusEvent]) -> Result<Vec<&[BusEvent]>, StoreError> {
    let mut calls = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, event) in events.iter().enumerate() {
        let size = entry_size(event);
        if size > BYTES_PER_CALL {
            return Err(StoreError::Rejected(format!(
                "an event of {size} bytes exceeds EventBridge's {BYTES_PER_CALL}-byte limit"
            )));
        }
        if i > start && (i - start == ENTRIES_PER_CALL || bytes + size > BYTES_PER_CALL) {
            calls.push(&events[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < events.len() {
        calls.push(&events[start..]);
    }
    Ok(calls)
}
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
        for chunk in calls(events)? {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(bytes: usize) -> BusEvent {
        BusEvent {
            source: "s".into(),
            detail_type: "d".into(),
            detail: "x".repeat(bytes),
        }
    }

    #[test]
    fn calls_respect_entry_and_size_limits() {
        let small: Vec<_> = (0..25).map(|_| event(10)).collect();
        let sizes: Vec<_> = calls(&small).unwrap().iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [10, 10, 5]);
        let big: Vec<_> = (0..3).map(|_| event(100 * 1024)).collect();
        let sizes: Vec<_> = calls(&big).unwrap().iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [2, 1]);
        assert!(matches!(
            calls(&[event(300 * 1024)]),
            Err(StoreError::Rejected(_))
        ));
    }
}
