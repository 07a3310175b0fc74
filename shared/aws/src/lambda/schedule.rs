//! EventBridge payloads: a schedule's tick, or a message on the CJaaS bus.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde_json::Value;

use cjaas_app::jobs::{BusMessage, UnreadableMessage};

/// What an EventBridge invocation asks for.
#[allow(clippy::large_enum_variant)] // one per invocation, never stored
pub(crate) enum Trigger {
    Schedule,
    Message(BusMessage),
}

/// A scheduled event, or a typed bus message (anything else is refused), and the
/// event's time.
pub(crate) fn trigger(
    payload: EventBridgeEvent<Value>,
) -> Result<(Trigger, DateTime<Utc>), UnreadableMessage> {
    let time = payload.time.unwrap_or_else(Utc::now);
    if (payload.source.as_str(), payload.detail_type.as_str()) == ("aws.events", "Scheduled Event")
    {
        return Ok((Trigger::Schedule, time));
    }
    let message = BusMessage::from_parts(&payload.source, &payload.detail_type, payload.detail)?;
    Ok((Trigger::Message(message), time))
}
