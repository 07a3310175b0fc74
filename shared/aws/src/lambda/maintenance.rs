//! The `maintenance` function: an erasure request from the CJaaS bus runs that job;
//! the daily schedule runs the sweep over every tenant (see [`Maintenance::sweep`]).
//! A failed tenant does not stop the others; the invocation fails at the end, naming
//! it, so that EventBridge retries.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use cjaas_app::jobs::{BusMessage, Maintenance};

use super::failure::{not_mine, store_unavailable, CommandFailed};
use super::schedule::{trigger, Trigger};

pub async fn handle_maintenance(
    maintenance: &Maintenance,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, CommandFailed> {
    match trigger(event.payload)? {
        (Trigger::Message(BusMessage::ErasureRequested { tenant, job }), _) => {
            let done = maintenance
                .erase(&tenant, &job)
                .await
                .map_err(store_unavailable)?;
            Ok(json!({ "erasure": done }))
        }
        (Trigger::Schedule, now) => {
            let report = maintenance.sweep_all(now).await?.into_result()?;
            Ok(serde_json::to_value(report).expect("a report serializes"))
        }
        (Trigger::Message(other), _) => {
            Err(not_mine("maintenance", other.source(), other.detail_type()))
        }
    }
}
