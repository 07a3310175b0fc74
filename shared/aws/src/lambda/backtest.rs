//! Backtest jobs in the `maintenance` function: a `BacktestRequested` message on the
//! CJaaS bus runs that job (its 15 minutes cover about a hundred million events at
//! the embedded default's rate; see docs/PERFORMANCE.md).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use cjaas_app::jobs::{BacktestError, Backtests, BusMessage};

use super::failure::{not_mine, store_unavailable, CommandFailed};
use super::schedule::{trigger, Trigger};

/// Whether the payload is a backtest request (the maintenance function's other
/// payloads go to [`super::handle_maintenance`]).
pub fn is_backtest(event: &EventBridgeEvent<Value>) -> bool {
    event.detail_type == "BacktestRequested"
}

pub async fn handle_backtest(
    backtests: &Backtests,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, CommandFailed> {
    match trigger(event.payload)? {
        (Trigger::Message(BusMessage::BacktestRequested { tenant, job }), _) => {
            match backtests.run(&tenant, &job).await {
                Ok(done) => Ok(json!({ "backtest": done })),
                // A job that is gone was pruned: nothing to retry.
                Err(e @ BacktestError::NotFound(_)) => {
                    tracing::warn!(tenant = %tenant, job, error = %e, "backtest not found");
                    Ok(json!({ "backtest": null }))
                }
                Err(e) => Err(store_unavailable(e)),
            }
        }
        (Trigger::Message(other), _) => {
            Err(not_mine("maintenance", other.source(), other.detail_type()))
        }
        (Trigger::Schedule, _) => Err(not_mine("backtest", "aws.events", "Scheduled Event")),
    }
}
