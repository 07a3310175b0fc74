//! The `actions` function: carries out one action a rule fired (from the CJaaS bus).
//! An `Err` makes EventBridge retry; actions are idempotent by their action id.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use cjaas_app::actions::ActionRunner;
use cjaas_app::jobs::BusMessage;

use super::failure::{not_mine, store_unavailable, CommandFailed};

pub async fn handle_action(
    runner: &ActionRunner,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, CommandFailed> {
    let payload = event.payload;
    let action =
        match BusMessage::from_parts(&payload.source, &payload.detail_type, payload.detail)? {
            BusMessage::ActionTriggered(action) => action,
            other => return Err(not_mine("actions", other.source(), other.detail_type())),
        };
    let outcome = runner.run(&action).await.map_err(store_unavailable)?;
    Ok(json!({ "action_id": action.action_id, "outcome": outcome }))
}
