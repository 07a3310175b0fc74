//! The Segment HTTP Tracking API, mapped onto CloudEvents.
//!
//! A request (a batch, or one `track`/`identify`/… call) is decoded and every message is
//! checked before anything is written. Each message becomes one structured-mode
//! CloudEvent, which then goes through the same validation as `POST /v1/events`:
//!
//! - `id` is the `messageId` (or, if absent, a hash of the message, so a resend dedups);
//! - `source` is [`SOURCE`]; `type` is the event name for `track`, else the call;
//! - `person` is the `userId`, or else the `anonymousId`;
//! - `time` corrects the device's clock skew: `receivedAt − (sentAt − timestamp)`;
//! - `data` is the message itself, without its `writeKey`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::event::EventProblem;
use crate::ids::PersonId;

mod members;
mod time;
mod transport;
use time::event_time;
pub use time::{corrected_time, OutOfRange};
pub use transport::{gunzip, project_settings, source_config};

/// The CloudEvents `source` of every event that came through the tracking API.
pub const SOURCE: &str = "segment";
/// Largest message, as sent (Segment's limit).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Largest request body, after decompression (Segment's limit).
pub const MAX_BATCH_BYTES: usize = 500 * 1024;

/// The kinds of Segment call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Track,
    Identify,
    Page,
    Screen,
    Group,
    Alias,
}

impl Call {
    pub const ALL: [Call; 6] = [
        Call::Track,
        Call::Identify,
        Call::Page,
        Call::Screen,
        Call::Group,
        Call::Alias,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Call::Track => "track",
            Call::Identify => "identify",
            Call::Page => "page",
            Call::Screen => "screen",
            Call::Group => "group",
            Call::Alias => "alias",
        }
    }

    pub fn parse(raw: &str) -> Option<Call> {
        Call::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

/// Which route a request came in on: a batch, or one call (its type is the route's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Batch,
    Single(Call),
}

/// Why a whole request was refused. Every variant is a 400 to Segment clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("the request body is over {MAX_BATCH_BYTES} bytes")]
    BatchTooLarge,
    #[error("the body is not valid gzip: {0}")]
    BadGzip(String),
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the body does not have the shape of a Segment request: {0}")]
    InvalidRequest(String),
    #[error("the batch holds no messages")]
    EmptyBatch,
    #[error("{} invalid message(s); nothing from this request was written", .0.len())]
    InvalidMessages(Vec<EventProblem>),
}

impl SegmentError {
    pub fn code(&self) -> &'static str {
        match self {
            SegmentError::BatchTooLarge => "batch_too_large",
            SegmentError::BadGzip(_) => "invalid_gzip",
            SegmentError::MalformedJson(_) => "malformed_json",
            SegmentError::InvalidRequest(_) => "invalid_request",
            SegmentError::EmptyBatch => "empty_batch",
            SegmentError::InvalidMessages(_) => "invalid_messages",
        }
    }
}

/// A decoded request: its messages (still unchecked) and what the batch sets for all.
#[derive(Debug, Clone)]
pub struct Payload {
    /// The `writeKey` of the body, if any (Segment's body-borne credential).
    pub write_key: Option<String>,
    route: Route,
    messages: Vec<Result<Map<String, Value>, EventProblem>>,
    sent_at: Option<Value>,
    context: Option<Value>,
    integrations: Option<Value>,
}

#[derive(Deserialize)]
struct BatchBody<'a> {
    #[serde(borrow)]
    batch: Vec<&'a RawValue>,
    #[serde(default, rename = "writeKey")]
    write_key: Option<Value>,
    #[serde(default, rename = "sentAt")]
    sent_at: Option<Value>,
    #[serde(default)]
    context: Option<Value>,
    #[serde(default)]
    integrations: Option<Value>,
}

/// Parses a (decompressed) body that came in on `route`.
pub fn parse_payload(body: &[u8], route: Route) -> Result<Payload, SegmentError> {
    if body.len() > MAX_BATCH_BYTES {
        return Err(SegmentError::BatchTooLarge);
    }
    match route {
        Route::Batch => {
            let parsed: BatchBody = serde_json::from_slice(body).map_err(json_error)?;
            if parsed.batch.is_empty() {
                return Err(SegmentError::EmptyBatch);
            }
            for (name, value) in [
                ("context", &parsed.context),
                ("integrations", &parsed.integrations),
            ] {
                if value
                    .as_ref()
                    .is_some_and(|v| !v.is_object() && !v.is_null())
                {
                    return Err(SegmentError::InvalidRequest(format!(
                        "the batch's {name} must be an object"
                    )));
                }
            }
            let messages = parsed
                .batch
                .iter()
                .enumerate()
                .map(|(i, raw)| message_object(i, raw.get()))
                .collect();
            Ok(Payload {
                write_key: parsed.write_key.as_ref().and_then(text),
                route,
                messages,
                sent_at: parsed.sent_at,
                context: parsed.context,
                integrations: parsed.integrations,
            })
        }
        Route::Single(_) => {
            let raw = std::str::from_utf8(body)
                .map_err(|e| SegmentError::MalformedJson(e.to_string()))?;
            serde_json::from_str::<&RawValue>(raw).map_err(json_error)?;
            let message = message_object(0, raw);
            let write_key = match &message {
                Ok(m) => m.get("writeKey").and_then(text),
                Err(_) => None,
            };
            Ok(Payload {
                write_key,
                route,
                messages: vec![message],
                sent_at: None,
                context: None,
                integrations: None,
            })
        }
    }
}

fn json_error(e: serde_json::Error) -> SegmentError {
    if e.is_data() {
        SegmentError::InvalidRequest(e.to_string())
    } else {
        SegmentError::MalformedJson(e.to_string())
    }
}

fn message_object(index: usize, raw: &str) -> Result<Map<String, Value>, EventProblem> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(problem(
            index,
            "message_too_large",
            format!(
                "the message is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
                raw.len()
            ),
        ));
    }
    match serde_json::from_str(raw) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(problem(
            index,
            "invalid_message",
            "a message must be a JSON object",
        )),
    }
}

/// A soft alias to record once the events are on the stream: `alias` is `person`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub person: PersonId,
    pub alias: PersonId,
}

/// One message as a structured-mode CloudEvent (JSON), not yet validated.
#[derive(Debug, Clone)]
pub struct Mapped {
    pub index: usize,
    pub event: String,
    pub link: Option<Link>,
}

/// Maps every message, or reports every problem, by index.
pub fn map_payload(
    mut payload: Payload,
    received_at: DateTime<Utc>,
) -> Result<Vec<Mapped>, SegmentError> {
    let messages = std::mem::take(&mut payload.messages);
    let mut mapped = Vec::with_capacity(messages.len());
    let mut problems = Vec::new();
    for (index, message) in messages.into_iter().enumerate() {
        match message.and_then(|m| map_message(index, m, &payload, received_at)) {
            Ok(m) => mapped.push(m),
            Err(p) => problems.push(p),
        }
    }
    if problems.is_empty() {
        Ok(mapped)
    } else {
        Err(SegmentError::InvalidMessages(problems))
    }
}

fn map_message(
    index: usize,
    mut message: Map<String, Value>,
    payload: &Payload,
    received_at: DateTime<Utc>,
) -> Result<Mapped, EventProblem> {
    message.remove("writeKey");
    members::check(index, &message)?;
    let call = match payload.route {
        Route::Single(call) => call,
        Route::Batch => message
            .get("type")
            .and_then(Value::as_str)
            .and_then(Call::parse)
            .ok_or_else(|| {
                problem(
                    index,
                    "invalid_type",
                    "type must be track, identify, page, screen, group or alias",
                )
            })?,
    };
    message.insert("type".into(), json!(call.as_str()));
    merge_default(&mut message, "context", payload.context.as_ref());
    merge_default(&mut message, "integrations", payload.integrations.as_ref());

    let user_id = identity(index, &message, "userId")?;
    let anonymous_id = identity(index, &message, "anonymousId")?;
    let person = user_id.clone().or(anonymous_id.clone()).ok_or_else(|| {
        problem(
            index,
            "missing_identity",
            "a message needs a userId or an anonymousId",
        )
    })?;
    let link = link_of(
        index,
        call,
        &message,
        user_id.as_ref(),
        anonymous_id.as_ref(),
    )?;
    let ty = match call {
        Call::Track => match message.get("event").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => {
                return Err(problem(
                    index,
                    "missing_event",
                    "a track call needs an event name",
                ))
            }
        },
        other => other.as_str().to_owned(),
    };
    let time = event_time(index, &message, payload.sent_at.as_ref(), received_at)?;
    let id = match message.get("messageId").and_then(text) {
        Some(id) => id,
        None => derived_message_id(&message),
    };
    let mut event = json!({
        "specversion": "1.0",
        "id": id,
        "source": SOURCE,
        "type": ty,
        "person": person.as_str(),
        "datacontenttype": "application/json",
    });
    if let Some(time) = time {
        event["time"] = json!(time.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    event["data"] = Value::Object(message);
    Ok(Mapped {
        index,
        event: event.to_string(),
        link,
    })
}

/// The batch's `context` or `integrations` under the message's own (which win).
fn merge_default(message: &mut Map<String, Value>, key: &str, batch: Option<&Value>) {
    let Some(Value::Object(defaults)) = batch else {
        return;
    };
    let mut merged = defaults.clone();
    match message.get(key) {
        Some(Value::Object(own)) => merged.extend(own.clone()),
        Some(_) => return,
        None => {}
    }
    message.insert(key.to_owned(), Value::Object(merged));
}

/// `userId` or `anonymousId`: a string or a number; empty or null counts as absent.
fn identity(
    index: usize,
    message: &Map<String, Value>,
    field: &str,
) -> Result<Option<PersonId>, EventProblem> {
    let raw = match message.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => text_of(value).ok_or_else(|| {
            problem(
                index,
                "invalid_identity",
                format!("{field} must be a string"),
            )
        })?,
    };
    if raw.is_empty() {
        return Ok(None);
    }
    PersonId::parse(&raw)
        .map(Some)
        .map_err(|e| problem(index, "invalid_identity", format!("{field} {e}")))
}

/// `identify` with both ids links the anonymous id to the user; `alias` links
/// `previousId` to `userId`.
fn link_of(
    index: usize,
    call: Call,
    message: &Map<String, Value>,
    user_id: Option<&PersonId>,
    anonymous_id: Option<&PersonId>,
) -> Result<Option<Link>, EventProblem> {
    let (person, alias) = match call {
        Call::Identify => match (user_id, anonymous_id) {
            (Some(user), Some(anonymous)) => (user.clone(), anonymous.clone()),
            _ => return Ok(None),
        },
        Call::Alias => {
            let user = user_id.ok_or_else(|| {
                problem(index, "missing_identity", "an alias call needs a userId")
            })?;
            let previous = identity(index, message, "previousId")?.ok_or_else(|| {
                problem(
                    index,
                    "missing_previous_id",
                    "an alias call needs a previousId",
                )
            })?;
            (user.clone(), previous)
        }
        _ => return Ok(None),
    };
    Ok((person != alias).then_some(Link { person, alias }))
}

/// For a message without `messageId`, or with an empty one (Segment's libraries always
/// send one): a hash of the message as sent, without `sentAt`, so that resending it dedups.
fn derived_message_id(message: &Map<String, Value>) -> String {
    let mut canonical = message.clone();
    canonical.remove("sentAt");
    let mut hasher = Sha256::new();
    write_canonical(&mut hasher, &Value::Object(canonical));
    format!("cjaas-{}", &hex::encode(hasher.finalize())[..32])
}

/// JSON with object keys sorted, whatever order the map keeps.
fn write_canonical(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for key in keys {
                hasher.update(Value::String(key.clone()).to_string().as_bytes());
                hasher.update(b":");
                write_canonical(hasher, &map[key]);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                write_canonical(hasher, item);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        scalar => hasher.update(scalar.to_string().as_bytes()),
    }
}

/// A string, or a number written as one.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    text_of(value).filter(|s| !s.is_empty())
}

fn problem(index: usize, code: &'static str, detail: impl Into<String>) -> EventProblem {
    EventProblem {
        index,
        code,
        detail: detail.into(),
    }
}

#[cfg(test)]
mod tests;
