//! The `orchestrator` function. On a Kinesis batch: evaluates the tenants' rules on
//! each event once it is on the Tape (see [`orchestrate_records`]). On its EventBridge
//! schedule: runs the absence timers that are due.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::kinesis::KinesisEvent;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

use cjaas_app::jobs::{all_tenants, orchestrate_records, run_timers, BatchOutcome};
use cjaas_app::orchestration::Orchestrator;
use cjaas_app::writer::TapeWriter;
use cjaas_core::ports::{ConfigStore, TapeStore};

use super::failure::CommandFailed;
use super::kinesis::{input_records, retry_from};

/// What the orchestrator reads: the Tape writer's decoder, the Tape, and the tenants.
pub struct OrchestratorFunction {
    pub decoder: TapeWriter,
    pub tape: std::sync::Arc<dyn TapeStore>,
    pub orchestrator: std::sync::Arc<Orchestrator>,
    pub tenants: std::sync::Arc<dyn ConfigStore>,
}

pub async fn handle_orchestration(
    function: &OrchestratorFunction,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let payload = event.payload;
    if payload.get("Records").is_none() {
        let schedule: EventBridgeEvent<Value> = serde_json::from_value(payload)?;
        let now = schedule.time.unwrap_or_else(chrono::Utc::now);
        let tenants = all_tenants(function.tenants.as_ref())
            .await
            .map_err(CommandFailed::from)?;
        let report = run_timers(&function.orchestrator, &tenants, now).await;
        let report = report.into_result().map_err(CommandFailed::from)?;
        return Ok(serde_json::to_value(report)?);
    }
    let batch: KinesisEvent = serde_json::from_value(payload)?;
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
