//! The event functions (`maintenance`, `analytics`, `actions`, and the
//! orchestrator's schedule): each payload becomes a [`Trigger`] and runs through
//! [`Jobs::run_in`] for the function's [`Family`] (a trigger of another family is
//! refused, `not_served`). What the payload may be:
//!
//! - a schedule's input, `{"job": "<name>"}` (`infra/template.yaml` gives each
//!   schedule one; an optional `time` stands for the run's time);
//! - the operator's projection backfill,
//!   `{"source": "cjaas.operator", "detail-type": "TapeProjectionBackfill", "detail": {}}`,
//!   run for the invocation's time left, less a margin (invoke it again while the
//!   answer says `"complete": false`);
//! - a message of the CJaaS bus, as EventBridge delivers it.
//!
//! A failure is the invocation's error, so that EventBridge retries it.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, SystemTime};

use cjaas_app::failure::{ErrorKind, Failure};
use cjaas_app::jobs::{BusMessage, Family, Jobs, Operation, Trigger};
use cjaas_app::wiring::Adapters;

use super::CommandFailed;

pub const OPERATOR_SOURCE: &str = "cjaas.operator";
pub const BACKFILL_REQUESTED: &str = "TapeProjectionBackfill";
/// Left of an invocation's time for the backfill's last page and the answer.
const MARGIN: Duration = Duration::from_secs(60);

/// A schedule's input.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleInput {
    job: String,
    #[serde(default)]
    time: Option<DateTime<Utc>>,
}

/// Runs one EventBridge invocation through the jobs of the function's family.
pub async fn handle_event<A: Adapters>(
    jobs: &Jobs<A>,
    family: &Family<A>,
    event: LambdaEvent<Value>,
) -> Result<Value, CommandFailed> {
    let left = event
        .context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let trigger = trigger_of(event.payload, left)?;
    Ok(jobs.run_in(family, trigger).await?)
}

/// What the payload asks for; anything else is refused.
pub fn trigger_of(payload: Value, time_left: Duration) -> Result<Trigger, Failure> {
    if payload.get("job").is_some() {
        let input: ScheduleInput = serde_json::from_value(payload)
            .map_err(|e| refused("invalid_message", format!("a schedule's input: {e}")))?;
        let at = input.time.unwrap_or_else(Utc::now);
        return Ok(Trigger::Schedule { job: input.job, at });
    }
    let event: EventBridgeEvent<Value> = serde_json::from_value(payload)
        .map_err(|e| refused("unexpected_event", format!("not an EventBridge event: {e}")))?;
    if (event.source.as_str(), event.detail_type.as_str()) == (OPERATOR_SOURCE, BACKFILL_REQUESTED)
    {
        let budget = time_left.saturating_sub(MARGIN).max(Duration::from_secs(1));
        return Ok(Trigger::Operation(Operation::BackfillProjection {
            budget_seconds: Some(budget.as_secs()),
        }));
    }
    let at = event.time.unwrap_or_else(Utc::now);
    let message = BusMessage::from_parts(&event.source, &event.detail_type, event.detail)?;
    Ok(Trigger::Message { message, at })
}

fn refused(code: &'static str, detail: String) -> Failure {
    tracing::warn!(code, %detail, "event refused");
    Failure {
        kind: ErrorKind::BadRequest,
        code,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_payload_is_one_trigger() {
        let left = Duration::from_secs(900);
        let at = "2026-11-23T06:00:00Z";
        match trigger_of(json!({"job": "sweep", "time": at}), left).unwrap() {
            Trigger::Schedule { job, at: time } => {
                assert_eq!(
                    (job.as_str(), time.to_rfc3339()),
                    ("sweep", "2026-11-23T06:00:00+00:00".into())
                )
            }
            other => panic!("{other:?}"),
        }
        let backfill =
            json!({"source": OPERATOR_SOURCE, "detail-type": BACKFILL_REQUESTED, "detail": {}});
        match trigger_of(backfill, left).unwrap() {
            Trigger::Operation(Operation::BackfillProjection { budget_seconds }) => {
                assert_eq!(budget_seconds, Some(840), "the time left less a minute")
            }
            other => panic!("{other:?}"),
        }
        let erasure = json!({"source": "cjaas.erasure", "detail-type": "ErasureRequested",
            "detail": {"tenant": "acme", "job": "erasure-1"}});
        assert!(matches!(
            trigger_of(erasure, left).unwrap(),
            Trigger::Message {
                message: BusMessage::ErasureRequested { .. },
                ..
            }
        ));
        // A schedule without a job name, a job input with a stray field, not EventBridge.
        let refused = [
            (
                json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}),
                "unexpected_event",
            ),
            (json!({"job": "sweep", "extra": 1}), "invalid_message"),
            (json!([1, 2]), "unexpected_event"),
        ];
        for (payload, code) in refused {
            assert_eq!(
                trigger_of(payload.clone(), left).unwrap_err().code,
                code,
                "{payload}"
            );
        }
    }
}
