//! Drains the local stream into the Tape with the same [`TapeWriter`] as the Lambda
//! (into the archive with the same [`Archiver`], and through the same
//! [`Orchestrator`]),
//! and with Kinesis' semantics: a record that must be retried holds back the ones
//! after it, and nothing is acknowledged before it is on the Tape or dead-lettered.
//! Drains are pipelined: while one batch is archived, evaluated and acknowledged, the
//! next is read and written to the Tape (DECISIONS.md, "Pipelined local drains").

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

/// A batch on the Tape and the live feed, not yet acknowledged.
struct Written {
    /// Its records to acknowledge: those before the first to retry.
    seqs: Vec<u64>,
    /// Whether no record must be retried.
    whole: bool,
    /// Its archive objects' name, and the entries that go in them.
    batch_name: String,
    archived: Vec<TapeEntry>,
    on_tape: Vec<TapeEntry>,
    /// [`EmbeddedStore::erasures`] before it was written.
    erasures: u64,
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

    /// Runs until `shutdown` turns true, then returns after the batches in hand.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let signal = self.store.stream_signal();
        let mut backoff = Duration::from_millis(50);
        let mut pending = None;
        while !*shutdown.borrow() {
            let wait = match self.step(&mut pending).await {
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
        if let Some(written) = pending {
            let _in_flight = self.store.drain_guard().await;
            let _ = self.finish(written).await;
        }
    }

    /// One turn of the pipeline: finishes the batch written last turn (`pending`)
    /// while the next one is read and written, and leaves that one pending. `Ok(n)`:
    /// n records read or done; `Err`: some must be read again, from the oldest.
    async fn step(&self, pending: &mut Option<Written>) -> Result<usize, ()> {
        // An erasure of the local log waits for the turn in flight.
        let _in_flight = self.store.drain_guard().await;
        if pending
            .as_ref()
            .is_some_and(|w| w.erasures != self.store.erasures())
        {
            // An erasure ran since the batch was written: rules and the archive must
            // not see what it removed, so the batch is read (and decoded) again.
            *pending = None;
        }
        // Past a batch with records to retry nothing is read: they hold back the rest.
        let ahead = match pending {
            Some(w) if !w.whole => None,
            Some(w) => Some(self.read(w.seqs.last().copied()).await?),
            None => Some(self.read(None).await?),
        };
        let finishing = async {
            match pending.take() {
                Some(written) => self.finish(written).await.map(Some),
                None => Ok(None),
            }
        };
        let writing = async {
            match ahead {
                Some(batch) if !batch.is_empty() => Some(self.write(batch).await),
                _ => None,
            }
        };
        let (finished, written) = tokio::join!(finishing, writing);
        let Ok(finished) = finished else {
            // Read again from the oldest: what was written ahead is on the Tape and
            // the live feed already, and is found there (Duplicate); it was not
            // archived, so its records join the retried batch's objects.
            drop(written);
            return Err(());
        };
        let read = written.as_ref().map_or(0, |w| w.seqs.len());
        *pending = written;
        Ok(finished.unwrap_or(0) + read)
    }

    /// The oldest records on the local stream after position `after`.
    async fn read(&self, after: Option<u64>) -> Result<Vec<(u64, Vec<u8>)>, ()> {
        self.store
            .read_stream_after(after, BATCH)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot read the local stream");
            })
    }

    /// Writes a batch to the Tape and the live feed; the next turn finishes it.
    async fn write(&self, batch: Vec<(u64, Vec<u8>)>) -> Written {
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
        let erasures = self.store.erasures();
        let report = self.writer.write_batch(&records).await;
        let done = report.retry_indices().next().unwrap_or(records.len());
        let (archived, new) = split_on_tape(&report, done);
        // Live followers see each event once, when it is first appended. Its row is
        // written before any later step can fail: a retry finds the entry Duplicate
        // and writes no row. The row is durable with the acknowledgement.
        self.publish_live(&new).await;
        let batch_name = archive_name(seqs[0]);
        seqs.truncate(done);
        Written {
            whole: done == records.len(),
            seqs,
            batch_name,
            archived,
            on_tape: report.on_tape,
            erasures,
        }
    }

    /// After its archive, rules and audiences, acknowledges a written batch's records
    /// (the one fsync'd commit of a turn). `Ok(n)`: n records done.
    async fn finish(&self, written: Written) -> Result<usize, ()> {
        // The archive sees what the Tape saw; a batch that fails to archive is read
        // again (the Tape ignores the repeats) and rewrites the same objects. Positions
        // are never reused, so no other batch has this name. It compresses on another
        // core while the rules run.
        let (archiver, name) = (self.archiver.clone(), written.batch_name);
        let archived = written.archived;
        let archiving =
            tokio::spawn(async move { archiver.archive_entries(&name, archived).await });
        let reacted = self.react(&written.on_tape).await;
        match archiving.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "archiving failed; the batch will be read again");
                return Err(());
            }
            Err(e) => {
                tracing::error!(error = %e, "archiving stopped; the batch will be read again");
                return Err(());
            }
        }
        reacted?;
        let done = written.seqs.len();
        self.store.ack_stream(written.seqs).await.map_err(|e| {
            tracing::error!(error = %e, "cannot acknowledge the local stream");
        })?;
        if !written.whole {
            return Err(());
        }
        Ok(done)
    }

    async fn publish_live(&self, new: &[&TapeEntry]) {
        let live = LocalLive::rows(new);
        if live.is_empty() {
            return;
        }
        match self.store.live_append(live, KEEP).await {
            Ok(()) => self.live.wake(),
            Err(e) => tracing::warn!(error = %e, "live feed not updated"),
        }
    }

    /// Rules, then audiences, on a batch's entries on the Tape. Rules see each event
    /// once it is on the Tape; a replay never fires twice, nor changes a membership
    /// twice. `Err`: read the batch again.
    async fn react(&self, on_tape: &[TapeEntry]) -> Result<(), ()> {
        match orchestrate_entries(None, &self.orchestrator, on_tape).await {
            Ok(BatchOutcome::AllDone(_)) => {}
            Ok(BatchOutcome::RetryFrom(_)) => return Err(()),
            Err(e) => {
                tracing::warn!(error = %e, "orchestration failed; the batch will be read again");
                return Err(());
            }
        }
        if let Some(audiences) = &self.audiences {
            if let Err(e) = audiences_on_entries(audiences, on_tape).await {
                tracing::warn!(error = %e, "audience evaluation failed; the batch will be read again");
                return Err(());
            }
        }
        Ok(())
    }
}
