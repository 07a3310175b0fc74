//! The live feed in AWS: tails the Kinesis stream, decoding records exactly as the
//! Tape writer does, and keeps the caller's tenant's events. A position is every
//! shard's last sequence number read (base64url JSON), so `Last-Event-ID` resumes
//! exactly across shards; without one, the tail starts at the stream's end.
//!
//! Each follower polls each shard about once per `poll`. Kinesis allows 5 reads per
//! second per shard, shared with the other consumers: many concurrent followers need
//! enhanced fan-out (a documented limit).

use async_trait::async_trait;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::operation::get_shard_iterator::GetShardIteratorError;
use aws_sdk_kinesis::types::ShardIteratorType;
use base64::Engine;
use futures::stream::{self, StreamExt};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use cjaas_app::writer::{InputRecord, TapeWriter};
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{LiveEvent, LiveFeed, LiveStream, StoreError};

use crate::store_error;

const RECORDS_PER_READ: i32 = 1000;

pub struct KinesisTail {
    client: aws_sdk_kinesis::Client,
    stream: String,
    decoder: Arc<TapeWriter>,
    poll: Duration,
}

type Positions = BTreeMap<String, String>;

fn encode_position(positions: &Positions) -> String {
    let json = serde_json::to_vec(positions).expect("positions serialize");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_position(raw: &str) -> Option<Positions> {
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    serde_json::from_slice(&json).ok()
}

struct Tail {
    client: aws_sdk_kinesis::Client,
    decoder: Arc<TapeWriter>,
    tenant: TenantId,
    poll: Duration,
    /// (shard, its next iterator)
    iterators: Vec<(String, String)>,
    positions: Positions,
    ready: VecDeque<LiveEvent>,
}

impl KinesisTail {
    pub fn new(
        client: aws_sdk_kinesis::Client,
        stream: String,
        decoder: Arc<TapeWriter>,
        poll: Duration,
    ) -> Self {
        Self {
            client,
            stream,
            decoder,
            poll,
        }
    }
}

impl Tail {
    async fn next(mut self) -> Option<(Result<LiveEvent, StoreError>, Self)> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some((Ok(event), self));
            }
            if let Err(e) = self.read_once().await {
                return Some((Err(e), self));
            }
            if self.ready.is_empty() {
                tokio::time::sleep(self.poll).await;
            }
        }
    }

    /// One read of every shard.
    async fn read_once(&mut self) -> Result<(), StoreError> {
        for i in 0..self.iterators.len() {
            let (shard, iterator) = self.iterators[i].clone();
            let output = self
                .client
                .get_records()
                .shard_iterator(&iterator)
                .limit(RECORDS_PER_READ)
                .send()
                .await
                .map_err(store_error)?;
            for record in output.records() {
                let input = InputRecord {
                    origin: format!("{shard}:{}", record.sequence_number()),
                    data: record.data().as_ref().to_vec(),
                    arrived_at: record
                        .approximate_arrival_timestamp()
                        .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                        .unwrap_or_else(chrono::Utc::now),
                };
                self.positions
                    .insert(shard.clone(), record.sequence_number().to_owned());
                // A record that must be retried by the writer is skipped here: the
                // live view is best effort, the Tape is the record.
                let entries = self
                    .decoder
                    .decode_batch(std::slice::from_ref(&input))
                    .await
                    .unwrap_or_default();
                for entry in entries.into_iter().filter(|e| e.tenant == self.tenant) {
                    self.ready.push_back(LiveEvent {
                        id: encode_position(&self.positions),
                        person: entry.person,
                        ty: entry.ty,
                        source: entry.source,
                        event: entry.event,
                    });
                }
            }
            if let Some(next) = output.next_shard_iterator() {
                self.iterators[i].1 = next.to_owned();
            }
        }
        Ok(())
    }
}

/// GetShardIterator's answer to a sequence number that is not on the shard.
fn is_stale_position(error: &SdkError<GetShardIteratorError>) -> bool {
    matches!(
        error.code(),
        Some("InvalidArgumentException" | "ResourceNotFoundException")
    )
}

impl KinesisTail {
    /// An iterator just after `after` on `shard`, or at its end.
    async fn iterator(
        &self,
        shard: &str,
        after: Option<&String>,
    ) -> Result<String, SdkError<GetShardIteratorError>> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_name(&self.stream)
            .shard_id(shard);
        let request = match after {
            Some(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(sequence),
            None => request.shard_iterator_type(ShardIteratorType::Latest),
        };
        Ok(request.send().await?.shard_iterator.unwrap_or_default())
    }
}

#[async_trait]
impl LiveFeed for KinesisTail {
    async fn follow(
        &self,
        tenant: &TenantId,
        after: Option<String>,
    ) -> Result<LiveStream, StoreError> {
        let mut positions = after
            .as_deref()
            .and_then(decode_position)
            .unwrap_or_default();
        let shards = self
            .client
            .list_shards()
            .stream_name(&self.stream)
            .send()
            .await
            .map_err(store_error)?;
        let mut iterators = Vec::new();
        for shard in shards.shards() {
            let shard = shard.shard_id();
            let iterator = match self.iterator(shard, positions.get(shard)).await {
                // Kinesis refuses a position this shard never issued (AWS and
                // kinesis-mock do; moto accepts anything): e.g. a Last-Event-ID from a
                // re-created stream. Like an unreadable id, it starts at the end.
                Err(e) if positions.contains_key(shard) && is_stale_position(&e) => {
                    let error = DisplayErrorContext(&e);
                    tracing::warn!(shard, %error, "unknown live position; starting at the end");
                    positions.remove(shard);
                    self.iterator(shard, None).await
                }
                other => other,
            }
            .map_err(store_error)?;
            iterators.push((shard.to_owned(), iterator));
        }
        let tail = Tail {
            client: self.client.clone(),
            decoder: self.decoder.clone(),
            tenant: tenant.clone(),
            poll: self.poll,
            iterators,
            positions,
            ready: VecDeque::new(),
        };
        Ok(stream::unfold(tail, Tail::next).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        let positions = Positions::from([("shardId-000000000000".into(), "4959".into())]);
        assert_eq!(
            decode_position(&encode_position(&positions)),
            Some(positions)
        );
        assert_eq!(decode_position("not base64!"), None);
    }
}
