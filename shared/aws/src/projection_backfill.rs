//! The operator path that migrates a Tape table written before the lean projection
//! existed (see `dynamo_steps`). An operator invokes the `maintenance` function with
//!
//! ```json
//! {"source": "cjaas.operator", "detail-type": "TapeProjectionBackfill", "detail": {}}
//! ```
//!
//! and again while the answer says `"complete": false`: each invocation resumes where
//! the last one stopped and works until shortly before its own deadline.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde_json::{json, Value};
use std::time::Duration;

use crate::lambda::CommandFailed;
use crate::DynamoTapeStore;

pub const OPERATOR_SOURCE: &str = "cjaas.operator";
pub const BACKFILL_REQUESTED: &str = "TapeProjectionBackfill";
/// Left of an invocation's time for the last page and the answer.
const MARGIN: Duration = Duration::from_secs(60);

pub fn is_backfill(event: &EventBridgeEvent<Value>) -> bool {
    event.source == OPERATOR_SOURCE && event.detail_type == BACKFILL_REQUESTED
}

/// The Tape store the backfill writes to.
pub fn tape_store(sdk: &aws_config::SdkConfig, table: &str) -> DynamoTapeStore {
    DynamoTapeStore::new(aws_sdk_dynamodb::Client::new(sdk), table.to_owned())
}

/// Runs one invocation's share of the backfill, for up to `time_left` less a margin.
pub async fn handle_projection_backfill(
    tape: &DynamoTapeStore,
    time_left: Duration,
) -> Result<Value, CommandFailed> {
    let budget = time_left.saturating_sub(MARGIN).max(Duration::from_secs(1));
    let report = tape
        .backfill_steps(budget)
        .await
        .map_err(|e| CommandFailed {
            code: "store_unavailable",
            detail: e.to_string(),
        })?;
    Ok(json!({ "projection_backfill": report }))
}
