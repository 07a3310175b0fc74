//! The `orchestrator` function. On a Kinesis batch: evaluates the tenants' rules on
//! each event once it is on the Tape (see [`orchestrate_records`]), then their
//! audiences. On its EventBridge schedule: runs the absence timers and the audience
//! time checks that are due. On the CJaaS bus: audience backfills and alias changes.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::kinesis::KinesisEvent;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

use cjaas_app::audiences::Membership;
use cjaas_app::jobs::{
    all_tenants, audiences_on_entries, orchestrate_records, run_audience_checks,
    run_audience_message, run_timers, BatchOutcome, BusMessage,
};
use cjaas_app::orchestration::Orchestrator;
use cjaas_app::writer::TapeWriter;
use cjaas_core::ports::{ConfigStore, TapeStore};

use super::failure::{not_mine, store_unavailable, CommandFailed};
use super::kinesis::{input_records, retry_from};
use super::schedule::{trigger, Trigger};

/// What the orchestrator reads: the Tape writer's decoder, the Tape, and the tenants.
pub struct OrchestratorFunction {
    pub decoder: TapeWriter,
    pub tape: std::sync::Arc<dyn TapeStore>,
    pub orchestrator: std::sync::Arc<Orchestrator>,
    pub tenants: std::sync::Arc<dyn ConfigStore>,
    pub audiences: std::sync::Arc<Membership>,
}

pub async fn handle_orchestration(
    function: &OrchestratorFunction,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let payload = event.payload;
    if payload.get("Records").is_none() {
        let event: EventBridgeEvent<Value> = serde_json::from_value(payload)?;
        return Ok(on_eventbridge(function, event).await?);
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
        BatchOutcome::AllDone(_) => match audiences(function, &input_records(&batch)).await {
            true => retry_from(&batch, None),
            false => retry_from(&batch, Some(0)),
        },
        BatchOutcome::RetryFrom(index) => retry_from(&batch, Some(index)),
    };
    Ok(serde_json::to_value(response)?)
}

/// The batch's audiences, once its rules ran: `false` hands the whole batch back
/// (no membership changes twice).
async fn audiences(
    function: &OrchestratorFunction,
    records: &[cjaas_app::writer::InputRecord],
) -> bool {
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

/// The schedule (absence timers, audience time checks) or an audience message.
async fn on_eventbridge(
    function: &OrchestratorFunction,
    event: EventBridgeEvent<Value>,
) -> Result<Value, CommandFailed> {
    match trigger(event)? {
        (Trigger::Schedule, now) => {
            let tenants = all_tenants(function.tenants.as_ref()).await?;
            let timers = run_timers(&function.orchestrator, &tenants, now).await;
            let checks = run_audience_checks(&function.audiences, &tenants, now).await;
            let timers = timers.into_result()?;
            let checks = checks.into_result()?;
            Ok(serde_json::json!({ "timers": timers, "audience_checks": checks }))
        }
        (Trigger::Message(message), _) => match message {
            BusMessage::AudienceBackfillRequested { .. } | BusMessage::AliasesChanged { .. } => {
                run_audience_message(&function.audiences, &message)
                    .await
                    .map_err(store_unavailable)?;
                Ok(serde_json::json!({ "done": message.detail_type() }))
            }
            other => Err(not_mine(
                "orchestrator",
                other.source(),
                other.detail_type(),
            )),
        },
    }
}
