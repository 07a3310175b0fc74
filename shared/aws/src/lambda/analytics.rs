//! The `analytics` function: an EventBridge schedule runs every tenant; a tenant's
//! on-demand request (`AnalyticsRunRequested` on the CJaaS bus) runs that tenant.
//! A failed tenant does not stop the others; the invocation fails at the end so that
//! EventBridge retries it.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

use cjaas_app::jobs::{AnalyticsJob, BusMessage};

use super::failure::{not_mine, CommandFailed};
use super::schedule::{trigger, Trigger};

pub async fn handle_analytics(
    job: &AnalyticsJob,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, CommandFailed> {
    let runs = match trigger(event.payload)? {
        (Trigger::Schedule, now) => job.run_all(now).await?,
        (Trigger::Message(BusMessage::AnalyticsRunRequested { tenant, .. }), now) => {
            job.run_requested(&tenant, now).await?
        }
        (Trigger::Message(other), _) => {
            return Err(not_mine("analytics", other.source(), other.detail_type()))
        }
    };
    Ok(serde_json::to_value(runs.into_result()?).expect("a report serializes"))
}
