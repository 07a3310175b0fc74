//! The `orchestrator` function. On a Kinesis batch: evaluates the tenants' rules on
//! each event once it is on the Tape (see [`orchestrate_records`]). On its
//! EventBridge schedule (`{"job": "timers"}`): the scheduled job, through the jobs.

use aws_lambda_events::event::kinesis::KinesisEvent;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

use cjaas_app::jobs::{orchestrate_records, BatchOutcome, Jobs};
use cjaas_app::orchestration::Orchestrator;
use cjaas_app::wiring::Adapters;
use cjaas_app::writer::TapeWriter;
use cjaas_core::ports::TapeStore;

use super::events::handle_event;
use super::kinesis::{input_records, retry_from};

/// What the orchestrator reads on a batch: the Tape writer's decoder and the Tape.
pub struct OrchestratorFunction {
    pub decoder: TapeWriter,
    pub tape: std::sync::Arc<dyn TapeStore>,
    pub orchestrator: std::sync::Arc<Orchestrator>,
}

pub async fn handle_orchestration<A: Adapters>(
    function: &OrchestratorFunction,
    jobs: &Jobs<A>,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    if event.payload.get("Records").is_none() {
        return Ok(handle_event(jobs, event).await?);
    }
    let batch: KinesisEvent = serde_json::from_value(event.payload)?;
    let outcome = orchestrate_records(
        &function.decoder,
        function.tape.as_ref(),
        &function.orchestrator,
        &input_records(&batch),
    )
    .await?;
    let response = match outcome {
        BatchOutcome::AllDone(_) => retry_from(&batch, None),
        BatchOutcome::RetryFrom(index) => retry_from(&batch, Some(index)),
    };
    Ok(serde_json::to_value(response)?)
}
