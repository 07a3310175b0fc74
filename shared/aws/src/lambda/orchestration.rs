//! The `orchestrator` function. On a Kinesis batch: evaluates the tenants' rules on
//! each event once it is on the Tape (see [`orchestrate_records`]), then their
//! audiences. On its EventBridge schedules (`{"job": "timers"}`,
//! `{"job": "audience_checks"}`, `{"job": "audience_backfills"}`) and on the CJaaS
//! bus (audience backfills, alias changes): the job, through the jobs of
//! [`Family::orchestration`].

use aws_lambda_events::event::kinesis::KinesisEvent;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

use cjaas_app::audiences::Membership;
use cjaas_app::jobs::{audiences_on_entries, orchestrate_records, BatchOutcome, Family, Jobs};
use cjaas_app::orchestration::Orchestrator;
use cjaas_app::wiring::Adapters;
use cjaas_app::writer::{InputRecord, TapeWriter};
use cjaas_core::ports::TapeStore;

use super::events::handle_event;
use super::kinesis::{input_records, retry_from};

/// What the orchestrator reads on a batch: the Tape writer's decoder, the Tape, the
/// rules and the audiences.
pub struct OrchestratorFunction {
    pub decoder: TapeWriter,
    pub tape: std::sync::Arc<dyn TapeStore>,
    pub orchestrator: std::sync::Arc<Orchestrator>,
    pub audiences: std::sync::Arc<Membership>,
}

pub async fn handle_orchestration<A: Adapters>(
    function: &OrchestratorFunction,
    jobs: &Jobs<A>,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    if event.payload.get("Records").is_none() {
        return Ok(handle_event(jobs, &Family::orchestration(), event).await?);
    }
    let batch: KinesisEvent = serde_json::from_value(event.payload)?;
    let records = input_records(&batch);
    let outcome = orchestrate_records(
        &function.decoder,
        function.tape.as_ref(),
        &function.orchestrator,
        &records,
    )
    .await?;
    let response = match outcome {
        BatchOutcome::AllDone(_) => match audiences(function, &records).await {
            true => retry_from(&batch, None),
            false => retry_from(&batch, Some(0)),
        },
        BatchOutcome::RetryFrom(index) => retry_from(&batch, Some(index)),
    };
    Ok(serde_json::to_value(response)?)
}

/// The batch's audiences, once its rules ran: `false` hands the whole batch back
/// (no membership changes twice).
async fn audiences(function: &OrchestratorFunction, records: &[InputRecord]) -> bool {
    let entries = match function.decoder.decode_batch(records).await {
        Ok(entries) => entries,
        Err(reason) => {
            tracing::warn!(%reason, "audience batch will be retried");
            return false;
        }
    };
    match audiences_on_entries(&function.audiences, &entries).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %e, "audience evaluation failed; the batch will be retried");
            false
        }
    }
}
