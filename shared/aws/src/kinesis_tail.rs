//! The live feed in AWS: tails the Kinesis stream, decoding records exactly as the
//! Tape writer does, and keeps the caller's tenant's events. A position is every
//! shard's last sequence number read (base64url JSON), so `Last-Event-ID` resumes
//! exactly across shards; without one, the tail starts at the stream's end, and so it
//! does, with a notice, for a position it cannot resume from (not one of its own, or
//! not of this stream).
//!
//! Kinesis keeps records for its retention, erased persons' included: the tail skips
//! the records that erasure tombstones cover (see `cjaas_app::tombstones`).
//!
//! Each follower polls each shard about once per `poll`. Kinesis allows 5 reads per
//! second per shard, shared with the other consumers: many concurrent followers need
//! enhanced fan-out (a documented limit).

use async_trait::async_trait;
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::types::ShardIteratorType;
use base64::Engine;
use futures::stream::{self, StreamExt};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use cjaas_app::tombstones::{Erased, Tombstones};
use cjaas_app::writer::{InputRecord, TapeWriter};
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{Following, LiveEvent, LiveFeed, StoreError};

use crate::store_error;

const RECORDS_PER_READ: i32 = 1000;
/// How often a follower rereads its tenant's erasure tombstones.
const TOMBSTONES_EVERY: Duration = Duration::from_secs(10);

pub struct KinesisTail {
    client: aws_sdk_kinesis::Client,
    stream: String,
    decoder: Arc<TapeWriter>,
    tombstones: Tombstones,
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
    tombstones: Tombstones,
    erased: Erased,
    erased_read_at: std::time::Instant,
}

/// What GetShardIterator answers for a sequence number that is not on the shard.
const STALE_POSITION: &[&str] = &["InvalidArgumentException", "ResourceNotFoundException"];

impl KinesisTail {
    pub fn new(
        client: aws_sdk_kinesis::Client,
        stream: String,
        decoder: Arc<TapeWriter>,
        tombstones: Tombstones,
        poll: Duration,
    ) -> Self {
        Self {
            client,
            stream,
            decoder,
            tombstones,
            poll,
        }
    }

    /// An iterator just after `sequence` on `shard`, or at its end; a position the
    /// shard refuses sets `notice`.
    async fn iterator(
        &self,
        shard: &str,
        sequence: Option<&String>,
        notice: &mut Option<String>,
    ) -> Result<String, StoreError> {
        let request = || {
            self.client
                .get_shard_iterator()
                .stream_name(&self.stream)
                .shard_id(shard)
        };
        let output = match sequence {
            Some(sequence) => {
                let after = request()
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .starting_sequence_number(sequence)
                    .send()
                    .await;
                match after {
                    // Kinesis refuses a position this shard never issued (AWS and
                    // kinesis-mock do; moto accepts anything): e.g. a Last-Event-ID
                    // from a re-created stream. Like an unreadable id, it starts now.
                    Err(e) if e.code().is_some_and(|code| STALE_POSITION.contains(&code)) => {
                        *notice = Some(format!(
                            "Last-Event-ID holds a position that {shard} does not have: following from now"
                        ));
                        request()
                            .shard_iterator_type(ShardIteratorType::Latest)
                            .send()
                            .await
                    }
                    other => other,
                }
            }
            None => {
                request()
                    .shard_iterator_type(ShardIteratorType::Latest)
                    .send()
                    .await
            }
        };
        Ok(output
            .map_err(store_error)?
            .shard_iterator
            .unwrap_or_default())
    }
}

impl Tail {
    async fn next(mut self) -> Option<(Result<LiveEvent, StoreError>, Self)> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some((Ok(event), self));
            }
            if let Err(e) = self.refresh_tombstones().await {
                return Some((Err(e), self));
            }
            if let Err(e) = self.read_once().await {
                return Some((Err(e), self));
            }
            if self.ready.is_empty() {
                tokio::time::sleep(self.poll).await;
            }
        }
    }

    async fn refresh_tombstones(&mut self) -> Result<(), StoreError> {
        if self.erased_read_at.elapsed() >= TOMBSTONES_EVERY {
            self.erased = self
                .tombstones
                .load(&self.tenant, chrono::Utc::now())
                .await?;
            self.erased_read_at = std::time::Instant::now();
        }
        Ok(())
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
                let kept = entries.into_iter().filter(|e| {
                    e.tenant == self.tenant && !self.erased.hides(&e.person, e.received_at)
                });
                for entry in kept {
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

#[async_trait]
impl LiveFeed for KinesisTail {
    async fn follow(
        &self,
        tenant: &TenantId,
        after: Option<String>,
    ) -> Result<Following, StoreError> {
        let mut notice = None;
        let mut positions = match after.as_deref() {
            None => Positions::new(),
            Some(raw) => decode_position(raw).unwrap_or_else(|| {
                notice = Some(
                    "Last-Event-ID is not a position of this stream: following from now".into(),
                );
                Positions::new()
            }),
        };
        let erased = self.tombstones.load(tenant, chrono::Utc::now()).await?;
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
            let mut refused = None;
            let iterator = self
                .iterator(shard, positions.get(shard), &mut refused)
                .await?;
            if refused.is_some() {
                positions.remove(shard);
                notice = refused;
            }
            iterators.push((shard.to_owned(), iterator));
        }
        if let Some(notice) = &notice {
            tracing::info!(tenant = %tenant, notice, "live follower starts now");
        }
        let tail = Tail {
            client: self.client.clone(),
            decoder: self.decoder.clone(),
            tenant: tenant.clone(),
            poll: self.poll,
            iterators,
            positions,
            ready: VecDeque::new(),
            tombstones: self.tombstones.clone(),
            erased,
            erased_read_at: std::time::Instant::now(),
        };
        Ok(Following {
            events: stream::unfold(tail, Tail::next).boxed(),
            notice,
        })
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
