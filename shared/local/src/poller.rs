//! Drains the local stream into the Tape with the same [`TapeWriter`] as the Lambda
//! (into the archive with the same [`Archiver`], and through the same
//! [`Orchestrator`]),
//! and with Kinesis' semantics: a record that must be retried holds back the ones
//! after it, and nothing is acknowledged before it is on the Tape or dead-lettered.

use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use cjaas_app::archive::Archiver;
use cjaas_app::audiences::Membership;
use cjaas_app::jobs::{audiences_on_entries, orchestrate_entries, BatchOutcome};
use cjaas_app::orchestration::Orchestrator;
use cjaas_app::writer::{BatchReport, InputRecord, RecordOutcome, TapeWriter};
use cjaas_core::tape::TapeEntry;

use crate::live::{LocalLive, KEEP};

use crate::EmbeddedStore;

/// Records per drain, at most. Larger than a Kinesis batch (500): under load each drain
/// pays its fixed costs (the Tape's commit, the archive's fsync and the acknowledgement's
/// fsync'd commit) over more records.
const BATCH: usize = 2_000;

/// `local-{first}`, zero-padded so that names sort in stream order.
pub fn archive_name(first: u64) -> String {
    cjaas_core::archive::batch_of("local", &format!("{first:020}"))
}
const IDLE_WAIT: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Of a written batch's entries on the Tape: those of the first `done` records (what
/// the archive gets, without decoding the records again), and those appended now
/// rather than before (what the live feed gets).
fn split_on_tape(report: &BatchReport, done: usize) -> (Vec<TapeEntry>, Vec<&TapeEntry>) {
    let mut archived = Vec::with_capacity(report.on_tape.len());
    let mut new = Vec::with_capacity(report.on_tape.len());
    let on_tape = report
        .outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o, RecordOutcome::Appended | RecordOutcome::Duplicate))
        .zip(&report.on_tape);
    for ((index, outcome), entry) in on_tape {
        if index < done {
            archived.push(entry.clone());
        }
        if *outcome == RecordOutcome::Appended {
            new.push(entry);
        }
    }
    (archived, new)
}

pub struct LocalPoller {
    store: EmbeddedStore,
    writer: Arc<TapeWriter>,
    archiver: Arc<Archiver>,
    orchestrator: Arc<Orchestrator>,
    live: LocalLive,
    audiences: Option<Arc<Membership>>,
}

impl LocalPoller {
    pub fn new(
        store: EmbeddedStore,
        writer: Arc<TapeWriter>,
        archiver: Arc<Archiver>,
        orchestrator: Arc<Orchestrator>,
        live: LocalLive,
    ) -> Self {
        Self {
            store,
            writer,
            archiver,
            orchestrator,
            live,
            audiences: None,
        }
    }

    /// Also keeps audience memberships current as events land.
    pub fn with_audiences(mut self, audiences: Arc<Membership>) -> Self {
        self.audiences = Some(audiences);
        self
    }

    /// Runs until `shutdown` turns true, then returns after the batch in hand.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let signal = self.store.stream_signal();
        let mut backoff = Duration::from_millis(50);
        while !*shutdown.borrow() {
            let wait = match self.drain_once().await {
                Ok(0) => IDLE_WAIT,
                Ok(_) => {
                    backoff = Duration::from_millis(50);
                    continue;
                }
                Err(()) => {
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
            };
            tokio::select! {
                _ = signal.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Writes one batch. `Ok(n)`: n records done; `Err`: some must be retried later.
    pub async fn drain_once(&self) -> Result<usize, ()> {
        // An erasure of the local log waits for the batch in flight.
        let _in_flight = self.store.drain_guard().await;
        let batch = self.store.read_stream(BATCH).await.map_err(|e| {
            tracing::error!(error = %e, "cannot read the local stream");
        })?;
        if batch.is_empty() {
            return Ok(0);
        }
        let arrived_at = Utc::now();
        let mut seqs: Vec<u64> = batch.iter().map(|(seq, _)| *seq).collect();
        let records: Vec<InputRecord> = batch
            .into_iter()
            .map(|(seq, data)| InputRecord {
                origin: format!("local/{seq}"),
                data,
                arrived_at,
            })
            .collect();
        let report = self.writer.write_batch(&records).await;
        let done = report.retry_indices().next().unwrap_or(records.len());
        // The archive sees what the Tape saw; a batch that fails to archive is read
        // again (the Tape ignores the repeats) and rewrites the same objects. Positions
        // are never reused, so no other batch has this name.
        let batch_name = archive_name(seqs[0]);
        let (archived, new) = split_on_tape(&report, done);
        if let Err(e) = self.archiver.archive_entries(&batch_name, archived).await {
            tracing::warn!(error = %e, "archiving failed; the batch will be read again");
            return Err(());
        }
        // Live followers see each event once, when it is first appended (its row is
        // durable with the acknowledgement's commit below, the one fsync of a drain).
        let live = LocalLive::rows(&new);
        if !live.is_empty() {
            match self.store.live_append(live, KEEP).await {
                Ok(()) => self.live.wake(),
                Err(e) => tracing::warn!(error = %e, "live feed not updated"),
            }
        }
        // Rules see each event once it is on the Tape; a replay never fires twice.
        match orchestrate_entries(None, &self.orchestrator, &report.on_tape).await {
            Ok(BatchOutcome::AllDone(_)) => {}
            Ok(BatchOutcome::RetryFrom(_)) => return Err(()),
            Err(e) => {
                tracing::warn!(error = %e, "orchestration failed; the batch will be read again");
                return Err(());
            }
        }
        // Then audiences: a failure reads the batch again; no change is made twice.
        if let Some(audiences) = &self.audiences {
            if let Err(e) = audiences_on_entries(audiences, &report.on_tape).await {
                tracing::warn!(error = %e, "audience evaluation failed; the batch will be read again");
                return Err(());
            }
        }
        seqs.truncate(done);
        self.store.ack_stream(seqs).await.map_err(|e| {
            tracing::error!(error = %e, "cannot acknowledge the local stream");
        })?;
        if done < records.len() {
            return Err(());
        }
        Ok(done)
    }
}
