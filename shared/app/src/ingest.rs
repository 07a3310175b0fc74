//! Ingest: validated events onto the stream, with retries for what the stream refuses.

use chrono::{DateTime, Utc};
use rand::Rng;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use cjaas_core::auth::SigningKeys;
use cjaas_core::envelope::{stamped_record, stamped_records, StreamRecord};
use cjaas_core::event::ValidEvent;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::EventStream;

use crate::failure::{AppError, ErrorKind};

/// Kinesis PutRecords limits: records and bytes (data plus partition keys) per call.
const MAX_RECORDS_PER_PUT: usize = 500;
const MAX_BYTES_PER_PUT: usize = 5 * 1024 * 1024;

/// Exponential backoff with full jitter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base: Duration::from_millis(50),
            max: Duration::from_millis(1000),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, attempt: u32) -> Duration {
        let cap = self.base.saturating_mul(1 << attempt.min(16)).min(self.max);
        cap.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} events could not be put on the stream: {detail}")]
pub struct StreamUnavailable {
    pub failed: usize,
    pub total: usize,
    pub detail: String,
}

impl AppError for StreamUnavailable {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Unavailable
    }
    fn code(&self) -> &'static str {
        "stream_unavailable"
    }
    fn retry_after(&self) -> Option<u64> {
        Some(1)
    }
}

pub struct Ingestor {
    stream: Arc<dyn EventStream>,
    keys: SigningKeys,
    retry: RetryPolicy,
}

impl Ingestor {
    pub fn new(stream: Arc<dyn EventStream>, keys: SigningKeys, retry: RetryPolicy) -> Self {
        Self {
            stream,
            keys,
            retry,
        }
    }

    /// Puts every event on the stream, or reports how many could not be put. A caller
    /// may resend the whole request: the Tape keeps one copy per (source, id).
    pub async fn publish(
        &self,
        tenant: &TenantId,
        received_at: DateTime<Utc>,
        events: &[ValidEvent],
    ) -> Result<usize, StreamUnavailable> {
        let records = stamped_records(&self.keys, tenant, received_at, events);
        self.put_all(&records).await
    }

    /// Like [`Ingestor::publish`], with each event's own receipt time (replays keep the
    /// original one).
    pub async fn republish(
        &self,
        tenant: &TenantId,
        events: &[(DateTime<Utc>, ValidEvent)],
    ) -> Result<usize, StreamUnavailable> {
        let records: Vec<StreamRecord> = events
            .iter()
            .map(|(received_at, e)| stamped_record(&self.keys, tenant, *received_at, e))
            .collect();
        self.put_all(&records).await
    }

    async fn put_all(&self, records: &[StreamRecord]) -> Result<usize, StreamUnavailable> {
        for chunk in chunks_within_put_limits(records) {
            self.put_with_retries(chunk)
                .await
                .map_err(|(failed, detail)| StreamUnavailable {
                    failed,
                    total: records.len(),
                    detail,
                })?;
        }
        Ok(records.len())
    }

    async fn put_with_retries(&self, records: &[StreamRecord]) -> Result<(), (usize, String)> {
        // Borrowed until the stream refuses some: only those are copied for a retry.
        let mut pending: Cow<[StreamRecord]> = Cow::Borrowed(records);
        let mut last_error = String::new();
        for attempt in 0..self.retry.attempts {
            if attempt > 0 {
                tokio::time::sleep(self.retry.delay(attempt - 1)).await;
            }
            match self.stream.put_records(&pending).await {
                Ok(failed) if failed.is_empty() => return Ok(()),
                Ok(failed) => {
                    last_error = format!("{} record(s) throttled or failed", failed.len());
                    pending = failed.into_iter().map(|i| pending[i].clone()).collect();
                }
                Err(e) => last_error = e.to_string(),
            }
            tracing::warn!(attempt, pending = pending.len(), error = %last_error, "stream put incomplete");
        }
        Err((pending.len(), last_error))
    }
}

/// Splits records into PutRecords calls that respect the count and size limits.
fn chunks_within_put_limits(records: &[StreamRecord]) -> Vec<&[StreamRecord]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, record) in records.iter().enumerate() {
        let size = record.data.len() + record.partition_key.len();
        if i > start && (i - start == MAX_RECORDS_PER_PUT || bytes + size > MAX_BYTES_PER_PUT) {
            chunks.push(&records[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < records.len() {
        chunks.push(&records[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(size: usize) -> StreamRecord {
        StreamRecord {
            partition_key: "k".repeat(32),
            data: vec![b'x'; size],
        }
    }

    #[test]
    fn chunks_respect_count_and_bytes() {
        let many = vec![record(10); 1001];
        let sizes: Vec<_> = chunks_within_put_limits(&many)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(sizes, [500, 500, 1]);

        let big = vec![record(256 * 1024); 40];
        let chunks = chunks_within_put_limits(&big);
        assert!(chunks
            .iter()
            .all(|c| c.iter().map(|r| r.data.len() + 32).sum::<usize>() <= MAX_BYTES_PER_PUT));
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 40);
        assert!(chunks_within_put_limits(&[]).is_empty());
    }

    /// A stream that refuses some records the first times it is called, as Kinesis does
    /// when a shard is throttled, and records what it finally accepted.
    struct ThrottledStream {
        refusals_left: std::sync::Mutex<usize>,
        accepted: std::sync::Mutex<Vec<StreamRecord>>,
    }

    #[async_trait::async_trait]
    impl EventStream for ThrottledStream {
        async fn put_records(
            &self,
            records: &[StreamRecord],
        ) -> Result<Vec<usize>, cjaas_core::ports::StoreError> {
            let mut left = self.refusals_left.lock().unwrap();
            let mut failed = Vec::new();
            for (i, record) in records.iter().enumerate() {
                if *left > 0 && i % 2 == 0 {
                    *left -= 1;
                    failed.push(i);
                } else {
                    self.accepted.lock().unwrap().push(record.clone());
                }
            }
            Ok(failed)
        }
    }

    fn events(n: usize) -> Vec<ValidEvent> {
        let now = chrono::Utc::now();
        (0..n)
            .map(|i| {
                let body = format!(
                    r#"{{"specversion":"1.0","id":"{i}","source":"/s","type":"t","person":"p"}}"#
                );
                cjaas_core::event::parse_structured(body.as_bytes(), now).unwrap()
            })
            .collect()
    }

    fn ingestor(refusals: usize, attempts: u32) -> (Ingestor, Arc<ThrottledStream>) {
        let stream = Arc::new(ThrottledStream {
            refusals_left: std::sync::Mutex::new(refusals),
            accepted: std::sync::Mutex::new(Vec::new()),
        });
        let retry = RetryPolicy {
            attempts,
            base: Duration::from_millis(1),
            max: Duration::from_millis(2),
        };
        let keys = SigningKeys::generate("k1");
        (Ingestor::new(stream.clone(), keys, retry), stream)
    }

    #[tokio::test]
    async fn refused_records_are_retried_until_all_are_on_the_stream() {
        let (ingestor, stream) = ingestor(7, 5);
        let tenant = TenantId::parse("acme").unwrap();
        let accepted = ingestor
            .publish(&tenant, chrono::Utc::now(), &events(10))
            .await
            .unwrap();
        assert_eq!(accepted, 10);
        assert_eq!(
            stream.accepted.lock().unwrap().len(),
            10,
            "each record exactly once"
        );
    }

    #[tokio::test]
    async fn records_still_refused_after_the_last_attempt_are_reported() {
        let (ingestor, stream) = ingestor(1000, 3);
        let tenant = TenantId::parse("acme").unwrap();
        let error = ingestor
            .publish(&tenant, chrono::Utc::now(), &events(10))
            .await
            .unwrap_err();
        assert!(error.failed > 0 && error.failed < 10, "{error}");
        assert_eq!(stream.accepted.lock().unwrap().len() + error.failed, 10);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy::default();
        assert!(policy.delay(0) <= Duration::from_millis(50));
        assert!(policy.delay(10) <= policy.max);
        assert!(policy.delay(10) >= policy.max / 2);
    }
}
