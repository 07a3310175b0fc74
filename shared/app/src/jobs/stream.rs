//! The orchestrator's stream batch: rules are evaluated on each event once it is on
//! the Tape. A batch that runs ahead of the Tape writer is handed back from its first
//! record; evaluating an event twice never fires twice.

use cjaas_core::ports::{StoreError, TapeStore};
use cjaas_core::tape::TapeEntry;

use crate::orchestration::{OrchestrationReport, Orchestrator};
use crate::writer::{InputRecord, TapeWriter};

/// What became of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Every event was evaluated.
    AllDone(OrchestrationReport),
    /// Hand the batch back from this record (an index into the batch).
    RetryFrom(usize),
}

/// Decodes a stream batch as the Tape writer does, then [`orchestrate_entries`].
pub async fn orchestrate_records(
    writer: &TapeWriter,
    tape: &dyn TapeStore,
    orchestrator: &Orchestrator,
    records: &[InputRecord],
) -> Result<BatchOutcome, StoreError> {
    match writer.decode_batch(records).await {
        Ok(entries) => orchestrate_entries(Some(tape), orchestrator, &entries).await,
        Err(reason) => {
            tracing::warn!(%reason, "orchestration batch will be retried");
            Ok(BatchOutcome::RetryFrom(0))
        }
    }
}

/// Evaluates the entries that are on the Tape already, in order; the rest waits for
/// the Tape writer, and the batch is retried from its start. `tape` is `None` when
/// the caller has just written the entries itself (the local poller).
pub async fn orchestrate_entries(
    tape: Option<&dyn TapeStore>,
    orchestrator: &Orchestrator,
    entries: &[TapeEntry],
) -> Result<BatchOutcome, StoreError> {
    let mut ready = 0;
    if let Some(tape) = tape {
        for entry in entries {
            if !tape.holds(entry).await? {
                break;
            }
            ready += 1;
        }
    } else {
        ready = entries.len();
    }
    let report = orchestrator.on_entries(&entries[..ready]).await?;
    tracing::info!(
        evaluations = report.evaluations,
        fired = report.fired,
        "rules evaluated"
    );
    if ready < entries.len() {
        return Ok(BatchOutcome::RetryFrom(0));
    }
    Ok(BatchOutcome::AllDone(report))
}
