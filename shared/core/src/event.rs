//! CloudEvents ingest validation.
//!
//! A request is parsed and every event in it is checked before anything is written:
//! the caller gets every problem at once, by event index, or a list of [`ValidEvent`]s.

mod data_span;
#[cfg(test)]
mod reference_tests;
mod structured;

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

use crate::ids::PersonId;

/// Largest single event, measured as its JSON (structured) or body plus headers (binary).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// Most events in one batch request.
pub const MAX_BATCH_EVENTS: usize = 500;
/// Largest request body.
pub const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;
/// Longest `id`, `source` or `type`.
pub const MAX_ATTRIBUTE_BYTES: usize = 1024;
/// The CloudEvents extension attribute that names the customer.
pub const PERSON_EXTENSION: &str = "person";

pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// One rejected event, named by its position in the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventProblem {
    pub index: usize,
    /// Stable machine-readable reason, e.g. `missing_person`.
    pub code: &'static str,
    pub detail: String,
}

impl EventProblem {
    fn new(index: usize, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            index,
            code,
            detail: detail.into(),
        }
    }
}

/// Why a whole request was refused before its events were looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the request body is {len} bytes; the limit is {max}")]
    TooLarge { len: usize, max: usize },
    #[error("the batch holds {count} events; the limit is {max}")]
    TooManyEvents { count: usize, max: usize },
    #[error("the batch is empty")]
    EmptyBatch,
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("unsupported content type {0:?}: send application/cloudevents+json, application/cloudevents-batch+json, or binary mode with ce-* headers")]
    UnsupportedMediaType(String),
    #[error("the header {0} is given more than once; send it once")]
    DuplicateHeader(String),
    #[error("{} invalid event(s)", .0.len())]
    InvalidEvents(Vec<EventProblem>),
}

/// An event that passed validation, with its person and effective time resolved, and
/// its stored form (structured-mode JSON) encoded once.
#[derive(Debug, Clone)]
pub struct ValidEvent {
    json: String,
    id: String,
    source: String,
    ty: String,
    pub person: PersonId,
    pub time: DateTime<Utc>,
}

impl ValidEvent {
    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn source(&self) -> &str {
        &self.source
    }
    pub fn ty(&self) -> &str {
        &self.ty
    }
    /// The event as structured-mode JSON, the form it is stored and served in.
    pub fn json(&self) -> &str {
        &self.json
    }
    pub fn into_json(self) -> String {
        self.json
    }
    /// (stored JSON, id, source, type), taken apart without copies.
    pub(crate) fn into_parts(self) -> (String, String, String, String) {
        (self.json, self.id, self.source, self.ty)
    }
    /// A copy of [`ValidEvent::json`].
    pub fn to_json(&self) -> String {
        self.json.clone()
    }
}

/// Parses and validates one structured-mode event.
pub fn parse_structured(
    body: &[u8],
    received_at: DateTime<Utc>,
) -> Result<ValidEvent, RequestError> {
    check_request_size(body.len())?;
    let raw: &RawValue =
        serde_json::from_slice(body).map_err(|e| RequestError::MalformedJson(e.to_string()))?;
    validate_raw(0, raw.get(), received_at).map_err(|p| RequestError::InvalidEvents(vec![p]))
}

/// Parses and validates a batch (`application/cloudevents-batch+json`).
pub fn parse_batch(
    body: &[u8],
    received_at: DateTime<Utc>,
) -> Result<Vec<ValidEvent>, RequestError> {
    check_request_size(body.len())?;
    let raws: Vec<&RawValue> =
        serde_json::from_slice(body).map_err(|e| RequestError::MalformedJson(e.to_string()))?;
    if raws.is_empty() {
        return Err(RequestError::EmptyBatch);
    }
    if raws.len() > MAX_BATCH_EVENTS {
        return Err(RequestError::TooManyEvents {
            count: raws.len(),
            max: MAX_BATCH_EVENTS,
        });
    }
    collect_all(
        raws.iter()
            .enumerate()
            .map(|(i, raw)| validate_raw(i, raw.get(), received_at)),
    )
}

/// Parses and validates one binary-mode event: `ce-*` headers, data in the body.
pub fn parse_binary(
    headers: &http::HeaderMap,
    body: &[u8],
    received_at: DateTime<Utc>,
) -> Result<ValidEvent, RequestError> {
    check_request_size(body.len())?;
    if let Some(name) = repeated_header(headers, true) {
        return Err(RequestError::DuplicateHeader(name));
    }
    let header_bytes: usize = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("ce-"))
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let size = body.len() + header_bytes;
    let checked = if size > MAX_EVENT_BYTES {
        Err(too_large(0, size))
    } else {
        cloudevents::binding::http::to_event(headers, body.to_vec())
            .map_err(|e| EventProblem::new(0, "invalid_cloudevent", e.to_string()))
            .and_then(|event| {
                // In structured form, where binary data grows by base64.
                let json = serde_json::to_string(&event).expect("a CloudEvent serializes");
                revalidate(0, &json, received_at)
            })
            .and_then(|valid| {
                if valid.json.len() > MAX_EVENT_BYTES {
                    Err(too_large(0, valid.json.len()))
                } else {
                    Ok(valid)
                }
            })
    };
    checked.map_err(|p| RequestError::InvalidEvents(vec![p]))
}

/// The first header that must appear at most once but is repeated: `Content-Type`, and
/// with `binary` every `ce-*` attribute. A repeated one is refused rather than one of
/// its values picked.
pub fn repeated_header(headers: &http::HeaderMap, binary: bool) -> Option<String> {
    headers
        .keys()
        .filter(|name| {
            *name == http::header::CONTENT_TYPE || (binary && name.as_str().starts_with("ce-"))
        })
        .find(|name| headers.get_all(*name).iter().nth(1).is_some())
        .map(|name| name.as_str().to_owned())
}

/// Validates one event given as structured-mode JSON text. `index` names it in problems;
/// an event without `time` gets `received_at` plus `index` microseconds, so the events
/// of one request keep their order on the Tape.
pub fn validate_raw(
    index: usize,
    json: &str,
    received_at: DateTime<Utc>,
) -> Result<ValidEvent, EventProblem> {
    if json.len() > MAX_EVENT_BYTES {
        return Err(too_large(index, json.len()));
    }
    revalidate(index, json, received_at)
}

/// [`validate_raw`] without the size limit, for events that passed it at ingest and
/// were re-encoded since (e.g. given a `time`).
pub fn revalidate(
    index: usize,
    json: &str,
    received_at: DateTime<Utc>,
) -> Result<ValidEvent, EventProblem> {
    validate(index, json, received_at, Mode::Encode)
}

/// Reads an event that this service validated and encoded itself, as a stamped stream
/// record carries it (the stamp proves it): the attributes the Tape needs are decoded
/// and checked, and the JSON is kept as it is, not encoded again; `data` is not looked
/// into and `source` is not parsed as a URI again. An event without `time` (never
/// written by ingest) goes through [`revalidate`].
pub fn decode_stamped(json: &str, received_at: DateTime<Utc>) -> Result<ValidEvent, EventProblem> {
    validate(0, json, received_at, Mode::Trusted)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every check, and the stored form written.
    Encode,
    /// Our own stored form: the data is not looked into and the JSON is kept.
    Trusted,
}

fn validate(
    index: usize,
    json: &str,
    received_at: DateTime<Utc>,
    mode: Mode,
) -> Result<ValidEvent, EventProblem> {
    let invalid = |detail: String| EventProblem::new(index, "invalid_cloudevent", detail);
    let m = match mode {
        Mode::Encode => structured::Members::parse_checked(json),
        Mode::Trusted => structured::Members::parse(json),
    };
    let m = m.map_err(invalid)?;
    // The model's checks first (every failure is `invalid_cloudevent`), then ours.
    let specversion = match structured::given(m.specversion) {
        Some(raw) => structured::string("specversion", raw).map_err(invalid)?,
        None => return Err(invalid("missing field `specversion`".into())),
    };
    match specversion.as_ref() {
        "1.0" => {}
        "0.3" => {
            return Err(EventProblem::new(
                index,
                "unsupported_specversion",
                "specversion 0.3 is not supported; use 1.0",
            ))
        }
        other => {
            return Err(invalid(format!(
                "unknown variant `{other}`, expected one of `0.3`, `1.0`"
            )))
        }
    }
    fn required<'a>(name: &str, raw: Option<&'a RawValue>) -> Result<Cow<'a, str>, String> {
        match structured::given(raw) {
            Some(raw) => structured::string(name, raw),
            None => Err(format!("missing field `{name}`")),
        }
    }
    let id = required("id", m.id).map_err(invalid)?;
    let ty = required("type", m.ty).map_err(invalid)?;
    let source = required("source", m.source).map_err(invalid)?;
    let content_type = match structured::given(m.datacontenttype) {
        Some(raw) => Some(structured::string("datacontenttype", raw).map_err(invalid)?),
        None => None,
    };
    let dataschema = match structured::given(m.dataschema) {
        Some(raw) if mode == Mode::Encode => {
            Some(structured::parse_dataschema(raw).map_err(invalid)?)
        }
        _ => None,
    };
    if let Some(raw) = structured::given(m.subject) {
        structured::string("subject", raw).map_err(invalid)?;
    }
    let given_time = match structured::given(m.time) {
        Some(raw) => Some(structured::parse_time(raw).map_err(invalid)?),
        None if mode == Mode::Trusted => return revalidate(index, json, received_at),
        None => None,
    };
    let data = structured::data_member(
        &m,
        content_type.as_deref().unwrap_or("application/json"),
        mode == Mode::Encode,
    )
    .map_err(invalid)?;
    for (name, raw) in &m.extensions {
        if !structured::is_null(raw) {
            structured::check_extension(name, raw).map_err(invalid)?;
        }
    }
    for (name, value) in [("id", &id), ("source", &source), ("type", &ty)] {
        check_attribute(index, name, value)?;
    }
    // Ingest checked a stamped event's source (the stamp vouches for it).
    if mode == Mode::Encode {
        check_source(index, &source)?;
    }
    let person = person_of(index, &m)?;
    let time = given_time.unwrap_or_else(|| received_at + Duration::microseconds(index as i64));
    check_time_range(index, time)?;
    let json = match mode {
        Mode::Trusted => json.to_owned(),
        Mode::Encode => structured::Encoded {
            members: &m,
            dataschema,
            time,
            data,
        }
        .write(json.len()),
    };
    Ok(ValidEvent {
        json,
        id: id.into_owned(),
        source: source.into_owned(),
        ty: ty.into_owned(),
        person,
        time,
    })
}

/// A Tape time key holds the years 1970 to 9999 (see [`crate::tape::time_key`]).
pub fn check_time_range(index: usize, time: DateTime<Utc>) -> Result<(), EventProblem> {
    if (1970..=9999).contains(&time.year()) {
        return Ok(());
    }
    Err(EventProblem::new(
        index,
        "time_out_of_range",
        "time must fall between the years 1970 and 9999",
    ))
}

fn check_attribute(index: usize, name: &str, value: &str) -> Result<(), EventProblem> {
    if value.is_empty() {
        return Err(EventProblem::new(
            index,
            "empty_attribute",
            format!("{name} must not be empty"),
        ));
    }
    if value.len() > MAX_ATTRIBUTE_BYTES {
        return Err(EventProblem::new(
            index,
            "attribute_too_long",
            format!(
                "{name} is {} bytes; the limit is {MAX_ATTRIBUTE_BYTES}",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// `source` is a URI-reference (RFC 3986), as CloudEvents requires.
fn check_source(index: usize, source: &str) -> Result<(), EventProblem> {
    fluent_uri::UriRef::parse(source).map(|_| ()).map_err(|e| {
        EventProblem::new(
            index,
            "invalid_source",
            format!("source must be a URI-reference (RFC 3986): {e}"),
        )
    })
}

fn person_of(index: usize, m: &structured::Members<'_>) -> Result<PersonId, EventProblem> {
    let Some(raw) = m.extension(PERSON_EXTENSION) else {
        return Err(EventProblem::new(
            index,
            "missing_person",
            "the extension attribute `person` (the customer id) is required",
        ));
    };
    match structured::string(PERSON_EXTENSION, raw) {
        Ok(text) => PersonId::parse(&text)
            .map_err(|e| EventProblem::new(index, "invalid_person", format!("person {e}"))),
        Err(_) => Err(EventProblem::new(
            index,
            "invalid_person",
            "person must be a string",
        )),
    }
}

fn too_large(index: usize, size: usize) -> EventProblem {
    EventProblem::new(
        index,
        "event_too_large",
        format!("the event is {size} bytes; the limit is {MAX_EVENT_BYTES}"),
    )
}

fn check_request_size(len: usize) -> Result<(), RequestError> {
    if len > MAX_REQUEST_BYTES {
        return Err(RequestError::TooLarge {
            len,
            max: MAX_REQUEST_BYTES,
        });
    }
    Ok(())
}

/// Keeps going after the first problem, so the caller learns about every bad event.
fn collect_all(
    results: impl Iterator<Item = Result<ValidEvent, EventProblem>>,
) -> Result<Vec<ValidEvent>, RequestError> {
    let mut valid = Vec::new();
    let mut problems = Vec::new();
    for result in results {
        match result {
            Ok(event) => valid.push(event),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(valid)
    } else {
        Err(RequestError::InvalidEvents(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    fn event(overrides: serde_json::Value) -> serde_json::Value {
        let mut base = json!({
            "specversion": "1.0", "id": "e-1", "source": "/web", "type": "page.view",
            "person": "alice", "data": {"path": "/pricing"}
        });
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                base.as_object_mut().unwrap().remove(k);
            } else {
                base[k] = v.clone();
            }
        }
        base
    }

    fn codes(err: RequestError) -> Vec<(usize, &'static str)> {
        match err {
            RequestError::InvalidEvents(problems) => {
                problems.iter().map(|p| (p.index, p.code)).collect()
            }
            other => panic!("expected invalid events, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_structured_event_keeps_its_time_and_person() {
        let body = event(json!({"time": "2026-01-02T03:04:05Z"})).to_string();
        let valid = parse_structured(body.as_bytes(), now()).unwrap();
        assert_eq!(valid.person.as_str(), "alice");
        assert_eq!(valid.time.to_rfc3339(), "2026-01-02T03:04:05+00:00");
    }

    #[test]
    fn a_missing_time_becomes_the_receive_time_in_request_order() {
        let body = json!([event(json!({"id": "a"})), event(json!({"id": "b"}))]).to_string();
        let valid = parse_batch(body.as_bytes(), now()).unwrap();
        assert_eq!(valid[0].time, now());
        assert_eq!(valid[1].time, now() + Duration::microseconds(1));
        assert!(valid[1].to_json().contains("\"time\""));
    }

    #[test]
    fn every_bad_event_in_a_batch_is_named_by_index() {
        let body = json!([
            event(json!({})),
            event(json!({"person": null})),
            event(json!({"specversion": "0.3"})),
            event(json!({"person": "bad\u{7}id"})),
            event(json!({"id": ""})),
            event(json!({"person": 42})),
            event(json!({"id": null})),
            event(json!({"time": "1900-01-01T00:00:00Z"})),
            event(json!({"data": {"blob": "x".repeat(MAX_EVENT_BYTES)}})),
            event(json!({"person": "x".repeat(600)})),
        ])
        .to_string();
        let got = codes(parse_batch(body.as_bytes(), now()).unwrap_err());
        assert_eq!(
            got,
            vec![
                (1, "missing_person"),
                (2, "unsupported_specversion"),
                (3, "invalid_person"),
                (4, "empty_attribute"),
                (5, "invalid_person"),
                (6, "invalid_cloudevent"),
                (7, "time_out_of_range"),
                (8, "event_too_large"),
                (9, "invalid_person"),
            ]
        );
    }

    #[test]
    fn request_level_limits_are_checked_first() {
        let many: Vec<_> = (0..=MAX_BATCH_EVENTS).map(|_| event(json!({}))).collect();
        let body = serde_json::to_vec(&many).unwrap();
        assert!(matches!(
            parse_batch(&body, now()),
            Err(RequestError::TooManyEvents { count: 501, .. })
        ));
        assert!(matches!(
            parse_batch(&vec![b' '; MAX_REQUEST_BYTES + 1], now()),
            Err(RequestError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_batch(b"[]", now()),
            Err(RequestError::EmptyBatch)
        ));
        assert!(matches!(
            parse_structured(b"{\"id\":", now()),
            Err(RequestError::MalformedJson(_))
        ));
    }

    #[test]
    fn binary_mode_reads_ce_headers_and_the_body() {
        let mut headers = http::HeaderMap::new();
        for (k, v) in [
            ("ce-specversion", "1.0"),
            ("ce-id", "b-1"),
            ("ce-source", "/voice"),
            ("ce-type", "call.started"),
            ("ce-person", "bob"),
            ("content-type", "application/json"),
        ] {
            headers.insert(k, v.parse().unwrap());
        }
        let valid = parse_binary(&headers, br#"{"line":"support"}"#, now()).unwrap();
        assert_eq!(
            (valid.person.as_str(), valid.ty(), valid.time),
            ("bob", "call.started", now())
        );
        let just_under = vec![b'x'; MAX_EVENT_BYTES - 200];
        let err = parse_binary(&headers, &just_under, now()).unwrap_err();
        assert_eq!(
            codes(err),
            vec![(0, "event_too_large")],
            "measured as stored, in base64"
        );
        headers.remove("ce-person");
        let err = parse_binary(&headers, b"{}", now()).unwrap_err();
        assert_eq!(codes(err), vec![(0, "missing_person")]);
    }

    #[test]
    fn source_must_be_a_uri_reference() {
        for good in [
            "/web",
            "https://shop.example/a?b=1#c",
            "urn:cjaas:x",
            "web",
            "cjaas://enrichment/r-1",
            "%C3%97",
        ] {
            let body = event(json!({"source": good})).to_string();
            assert!(parse_structured(body.as_bytes(), now()).is_ok(), "{good}");
        }
        for bad in [
            "\u{d7}\u{f8}\u{9b}",
            "a b",
            "http://[::1",
            "%zz",
            "/x\\y",
            "a\"b",
        ] {
            let body = json!([event(json!({"source": bad}))]).to_string();
            let err = parse_batch(body.as_bytes(), now()).unwrap_err();
            assert_eq!(codes(err), vec![(0, "invalid_source")], "{bad:?}");
        }
    }

    #[test]
    fn a_repeated_ce_or_content_type_header_is_refused_in_binary_mode() {
        let base = [
            ("ce-specversion", "1.0"),
            ("ce-id", "b-1"),
            ("ce-source", "/voice"),
            ("ce-type", "call.started"),
            ("ce-person", "bob"),
            ("content-type", "application/json"),
        ];
        for repeated in [
            "ce-id",
            "ce-person",
            "ce-source",
            "content-type",
            "ce-color",
        ] {
            let mut headers = http::HeaderMap::new();
            for (k, v) in base {
                headers.insert(k, v.parse().unwrap());
            }
            headers.append(repeated, "other".parse().unwrap());
            headers.append(repeated, "again".parse().unwrap());
            let err = parse_binary(&headers, b"{}", now()).unwrap_err();
            assert_eq!(err, RequestError::DuplicateHeader(repeated.to_owned()));
        }
        let mut structured = http::HeaderMap::new();
        structured.append("ce-id", "a".parse().unwrap());
        structured.append("ce-id", "b".parse().unwrap());
        assert_eq!(
            repeated_header(&structured, false),
            None,
            "structured mode ignores ce-*"
        );
    }
}
