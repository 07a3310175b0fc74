//! A message's event time: the device's timestamp, corrected for its clock skew.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::problem;
use crate::event::{check_time_range, EventProblem};

/// The event time: the device's `timestamp` (or `originalTimestamp`), corrected for the
/// device's clock skew when `sentAt` (the message's, else the batch's) is known.
pub(super) fn event_time(
    index: usize,
    message: &Map<String, Value>,
    batch_sent_at: Option<&Value>,
    received_at: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, EventProblem> {
    // Both are checked when given; `timestamp` wins.
    let timestamp = parse_time(index, "timestamp", message.get("timestamp"))?;
    let original = parse_time(index, "originalTimestamp", message.get("originalTimestamp"))?;
    let timestamp = timestamp.or(original);
    let sent_at = match message.get("sentAt") {
        Some(Value::Null) | None => batch_sent_at,
        some => some,
    };
    let sent_at = parse_time(index, "sentAt", sent_at)?;
    let time = corrected_time(received_at, sent_at, timestamp).map_err(|_| {
        problem(
            index,
            "time_out_of_range",
            "the corrected time is out of range",
        )
    })?;
    // Checked here, not only in the event's own validation: a correction can reach a
    // year before 0, whose text no RFC 3339 parser reads back.
    if let Some(time) = time {
        check_time_range(index, time)?;
    }
    Ok(time)
}

/// A corrected time outside what chrono can represent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange;

/// `receivedAt − (sentAt − timestamp)`, or the timestamp as is without `sentAt`.
pub fn corrected_time(
    received_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    timestamp: Option<DateTime<Utc>>,
) -> Result<Option<DateTime<Utc>>, OutOfRange> {
    match (timestamp, sent_at) {
        (None, _) => Ok(None),
        (Some(timestamp), None) => Ok(Some(timestamp)),
        (Some(timestamp), Some(sent_at)) => received_at
            .checked_sub_signed(sent_at.signed_duration_since(timestamp))
            .map(Some)
            .ok_or(OutOfRange),
    }
}

fn parse_time(
    index: usize,
    field: &str,
    value: Option<&Value>,
) -> Result<Option<DateTime<Utc>>, EventProblem> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) => DateTime::parse_from_rfc3339(raw)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| problem(index, "invalid_timestamp", format!("{field} {raw:?}: {e}"))),
        Some(_) => Err(problem(
            index,
            "invalid_timestamp",
            format!("{field} must be an ISO-8601 string"),
        )),
    }
}
