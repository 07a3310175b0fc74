//! One structured-mode CloudEvent, checked from a single borrowed parse and encoded
//! once into its stored form.
//!
//! The object's members are read as raw JSON text ([`RawValue`]): attributes and
//! extensions are decoded from it (borrowed where they hold no escapes), and `data`
//! stays raw bytes, checked as JSON in the same pass without building a tree. The
//! checks are the ones the `cloudevents-sdk` model makes (types of attributes, RFC 3339
//! `time`, an absolute URI as `dataschema`, extensions of string, boolean or integer,
//! `data` against `data_base64`); `event::reference_tests` holds the two to the same
//! verdicts.
//!
//! The stored form puts the attributes in a fixed order (`specversion`, `id`, `type`,
//! `source`, `datacontenttype`, `dataschema`, `subject`, `time`), then the data, then
//! the extensions in the order they came; `time` is normalized to UTC.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

use super::data_span;

/// A member name, borrowed from the input unless it held escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The members of one event object, each as raw JSON; a repeated name keeps its last
/// value, as a JSON object model does.
#[derive(Default)]
pub(super) struct Members<'a> {
    /// `data`'s JSON text.
    pub data: Option<&'a str>,
    /// Whether `data` was read well formed ([`WellFormed`]) in the same pass.
    pub data_checked: bool,
    pub specversion: Option<&'a RawValue>,
    pub id: Option<&'a RawValue>,
    pub ty: Option<&'a RawValue>,
    pub source: Option<&'a RawValue>,
    pub datacontenttype: Option<&'a RawValue>,
    pub dataschema: Option<&'a RawValue>,
    pub subject: Option<&'a RawValue>,
    pub time: Option<&'a RawValue>,
    pub data_base64: Option<&'a RawValue>,
    pub extensions: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MembersVisitor { input: None })
    }
}

/// Reads the members; given the `input` text, it also checks `data` well formed in the
/// same pass and takes its text from the input by position ([`data_span`]).
struct MembersVisitor<'de> {
    input: Option<&'de str>,
}

impl<'de> Visitor<'de> for MembersVisitor<'de> {
    type Value = Members<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CloudEvent object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut m = Members::default();
        // The start of a checked `data` whose end is the next key (or the object's end).
        let mut open_data: Option<usize> = None;
        while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
            if let (Some(input), Some(start)) = (self.input, open_data.take()) {
                m.data =
                    Some(data_span::until_key(input, start, &name).map_err(de::Error::custom)?);
            }
            let checked_start = self
                .input
                .filter(|_| name == "data")
                .and_then(|input| data_span::value_start(input, &name));
            if let Some(start) = checked_start {
                map.next_value::<WellFormed>()?;
                (open_data, m.data_checked) = (Some(start), true);
                continue;
            }
            let value: &'de RawValue = map.next_value()?;
            let slot = match name.as_ref() {
                "specversion" => &mut m.specversion,
                "id" => &mut m.id,
                "type" => &mut m.ty,
                "source" => &mut m.source,
                "datacontenttype" => &mut m.datacontenttype,
                "dataschema" => &mut m.dataschema,
                "subject" => &mut m.subject,
                "time" => &mut m.time,
                "data" => {
                    (m.data, m.data_checked) = (Some(value.get()), false);
                    continue;
                }
                "data_base64" => &mut m.data_base64,
                _ => {
                    match m.extensions.iter_mut().find(|(n, _)| *n == name) {
                        Some(existing) => existing.1 = value,
                        None => m.extensions.push((name, value)),
                    }
                    continue;
                }
            };
            *slot = Some(value);
        }
        if let (Some(input), Some(start)) = (self.input, open_data) {
            m.data = Some(data_span::until_end(input, start));
        }
        Ok(m)
    }
}

impl<'a> Members<'a> {
    pub fn parse(json: &'a str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    /// As [`Members::parse`], with `data` also checked well formed in the same pass: an
    /// event's text is scanned once, not once for its members and again for its data.
    pub fn parse_checked(json: &'a str) -> Result<Self, String> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let members = deserializer
            .deserialize_map(MembersVisitor { input: Some(json) })
            .and_then(|m| deserializer.end().map(|()| m));
        members.map_err(|e| e.to_string())
    }

    /// The person extension's raw value, if given and not null.
    pub fn extension(&self, name: &str) -> Option<&'a RawValue> {
        self.extensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .filter(|v| !is_null(v))
    }
}

pub(super) fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// A present, non-null member (null attributes count as absent).
pub(super) fn given(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|v| !is_null(v))
}

/// The text of a JSON string, borrowed unless it holds escapes.
pub(super) fn string<'a>(name: &str, raw: &'a RawValue) -> Result<Cow<'a, str>, String> {
    string_text(name, raw.get())
}

/// [`string`] of a value's JSON text.
fn string_text<'a>(name: &str, text: &'a str) -> Result<Cow<'a, str>, String> {
    if !text.starts_with('"') {
        return Err(format!(
            "{name}: invalid type {text:.40}, expected a string"
        ));
    }
    if !text.as_bytes().contains(&b'\\') {
        // The parser has checked it: no control characters, valid UTF-8.
        return Ok(Cow::Borrowed(&text[1..text.len() - 1]));
    }
    serde_json::from_str::<String>(text)
        .map(Cow::Owned)
        .map_err(|e| format!("{name}: {e}"))
}

/// What an extension may hold: a string, a boolean or a 64-bit integer.
pub(super) fn check_extension(name: &str, raw: &RawValue) -> Result<(), String> {
    let text = raw.get();
    let ok = match text.as_bytes()[0] {
        b'"' => string(name, raw).is_ok(),
        b't' | b'f' => true,
        b'-' | b'0'..=b'9' => serde_json::from_str::<i64>(text).is_ok(),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "extension {name}: {text:.40} is not a string, boolean or integer"
        ))
    }
}

/// Any JSON value, read in one pass that builds nothing, as a JSON model would read it:
/// numbers in range, strings well formed. (`IgnoredAny` skips without those checks.)
struct WellFormed;

impl<'de> Deserialize<'de> for WellFormed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WellFormedVisitor)
    }
}

struct WellFormedVisitor;

impl<'de> Visitor<'de> for WellFormedVisitor {
    type Value = WellFormed;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<WellFormed, E> {
        Ok(WellFormed)
    }
    fn visit_i64<E>(self, _: i64) -> Result<WellFormed, E> {
        Ok(WellFormed)
    }
    fn visit_u64<E>(self, _: u64) -> Result<WellFormed, E> {
        Ok(WellFormed)
    }
    fn visit_f64<E>(self, _: f64) -> Result<WellFormed, E> {
        Ok(WellFormed)
    }
    fn visit_str<E>(self, _: &str) -> Result<WellFormed, E> {
        Ok(WellFormed)
    }
    fn visit_unit<E>(self) -> Result<WellFormed, E> {
        Ok(WellFormed)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<WellFormed, A::Error> {
        while seq.next_element::<WellFormed>()?.is_some() {}
        Ok(WellFormed)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WellFormed, A::Error> {
        while map.next_entry::<WellFormed, WellFormed>()?.is_some() {}
        Ok(WellFormed)
    }
}

/// The SDK's test for JSON data: such data is kept as JSON, any other as a string.
pub(super) fn is_json_content_type(ct: &str) -> bool {
    ct.starts_with("application/json") || ct.starts_with("text/json") || ct.ends_with("+json")
}

/// The event's data as it is stored: (`data` or `data_base64`, its JSON text).
pub(super) fn data_member<'a>(
    m: &Members<'a>,
    content_type: &str,
    check: bool,
) -> Result<Option<(&'static str, Cow<'a, str>)>, String> {
    let is_json = is_json_content_type(content_type);
    match (m.data, m.data_base64) {
        (Some(_), Some(_)) => Err("Cannot have both data and data_base64 field".into()),
        (Some(data), None) if is_json => {
            if check && !m.data_checked {
                serde_json::from_str::<WellFormed>(data).map_err(|e| format!("data: {e}"))?;
            }
            Ok(Some(("data", Cow::Borrowed(data))))
        }
        (Some(data), None) => {
            string_text("data", data)?;
            Ok(Some(("data", Cow::Borrowed(data))))
        }
        (None, Some(encoded)) => {
            let bytes = STANDARD
                .decode(string("data_base64", encoded)?.as_bytes())
                .map_err(|e| format!("data_base64: decode error `{e}`"))?;
            if is_json {
                if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    return Ok(Some(("data", Cow::Owned(value.to_string()))));
                }
            }
            let text = serde_json::to_string(&STANDARD.encode(bytes)).expect("a string");
            Ok(Some(("data_base64", Cow::Owned(text))))
        }
        (None, None) => Ok(None),
    }
}

/// `time` as RFC 3339, as the SDK reads it.
pub(super) fn parse_time(raw: &RawValue) -> Result<DateTime<Utc>, String> {
    let text = string("time", raw)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("time: {e}"))
}

/// `dataschema` must be an absolute URI; it is stored normalized.
pub(super) fn parse_dataschema(raw: &RawValue) -> Result<url::Url, String> {
    url::Url::parse(&string("dataschema", raw)?).map_err(|e| format!("dataschema: {e}"))
}

/// The stored form, written once.
pub(super) struct Encoded<'x, 'a> {
    pub members: &'x Members<'a>,
    pub dataschema: Option<url::Url>,
    pub time: DateTime<Utc>,
    pub data: Option<(&'static str, Cow<'a, str>)>,
}

fn member(out: &mut String, name: &str, raw_json: &str) {
    out.push(',');
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
    out.push_str(raw_json);
}

impl Encoded<'_, '_> {
    pub fn write(&self, capacity: usize) -> String {
        let m = self.members;
        let mut out = String::with_capacity(capacity + 64);
        out.push_str("{\"specversion\":\"1.0\"");
        let required = [("id", m.id), ("type", m.ty), ("source", m.source)];
        for (name, raw) in required {
            member(&mut out, name, raw.expect("checked").get());
        }
        if let Some(ct) = given(m.datacontenttype) {
            member(&mut out, "datacontenttype", ct.get());
        }
        if let Some(schema) = &self.dataschema {
            let text = serde_json::to_string(schema.as_str()).expect("a string");
            member(&mut out, "dataschema", &text);
        }
        if let Some(subject) = given(m.subject) {
            member(&mut out, "subject", subject.get());
        }
        out.push_str(",\"time\":\"");
        out.push_str(&self.time.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        out.push('"');
        if let Some((name, text)) = &self.data {
            member(&mut out, name, text);
        }
        for (name, raw) in &m.extensions {
            if is_null(raw) {
                continue;
            }
            out.push(',');
            match name {
                Cow::Borrowed(n) => {
                    out.push('"');
                    out.push_str(n);
                    out.push('"');
                }
                Cow::Owned(n) => out.push_str(&serde_json::to_string(n).expect("a string")),
            }
            out.push(':');
            out.push_str(raw.get());
        }
        out.push('}');
        out
    }
}
