//! Quiet hours: a daily window of local time, in the person's time zone, when rules
//! do not act. Each rule chooses what happens to a firing inside it: `hold` (its
//! actions are published when the window ends), `drop` (never published) or
//! `ignore` (published at once).
//!
//! - **The window** is `[start, end)` in local wall-clock time; `start > end` spans
//!   midnight (`21:00` to `08:00`). Times are `HH:MM` or `HH:MM:SS`.
//! - **The zone** is the person's: a profile attribute holding an IANA name
//!   (`Europe/Paris`), or the policy's default (`UTC` unless given) when the person
//!   has none or an unknown one.
//! - **The release** is the next local `end` after the firing. If a daylight-saving
//!   change skips that wall-clock time, the first valid minute after it; if it
//!   repeats it, its first occurrence after the firing.

use chrono::{DateTime, NaiveTime, Timelike, Utc};
use jiff::civil;
use jiff::tz::AmbiguousOffset;
pub use jiff::tz::TimeZone as Tz;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::problem::FieldProblem;

/// The profile attribute that holds a person's IANA time zone name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneAttribute {
    pub view: String,
    pub attribute: String,
}

/// Quiet hours as the tenant policy writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursSpec {
    pub start: String,
    pub end: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<ZoneAttribute>,
    #[serde(default = "utc")]
    pub default_time_zone: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// What a rule does with a firing inside quiet hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuietChoice {
    /// Publish its actions when the quiet period ends.
    #[default]
    Hold,
    /// Never publish them.
    Drop,
    /// Publish them at once, quiet or not.
    Ignore,
}

/// Quiet hours, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub time_zone: Option<ZoneAttribute>,
    pub default_zone: Tz,
}

/// What quiet hours do to one firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuietVerdict {
    /// Not quiet (or the rule ignores quiet hours): publish now.
    Send,
    /// Quiet: publish at `until`.
    Hold { until: DateTime<Utc> },
    /// Quiet, and the rule drops what fires then.
    Drop,
}

/// An IANA zone name (`Europe/Paris`, `UTC`), from the bundled database.
pub fn parse_zone(name: &str) -> Option<Tz> {
    Tz::get(name).ok()
}

/// The zone's IANA name (`UTC` for a zone without one).
pub fn zone_name(zone: &Tz) -> &str {
    zone.iana_name().unwrap_or("UTC")
}

/// `at`'s local wall-clock time in `zone`, `HH:MM:SS`.
pub fn local_time(at: DateTime<Utc>, zone: &Tz) -> String {
    let t = zone.to_datetime(timestamp(at)).time();
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp::from_microsecond(at.timestamp_micros()).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn utc_of(ts: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(ts.as_microsecond()).unwrap_or_default()
}

fn civil_time(t: NaiveTime) -> civil::Time {
    // Hours, minutes and seconds of a parsed HH:MM[:SS] are always in range.
    civil::Time::new(t.hour() as i8, t.minute() as i8, t.second() as i8, 0).unwrap_or_default()
}

fn naive_time(t: civil::Time) -> NaiveTime {
    NaiveTime::from_hms_nano_opt(
        t.hour() as u32,
        t.minute() as u32,
        t.second() as u32,
        t.subsec_nanosecond() as u32,
    )
    .unwrap_or_default()
}

/// `HH:MM` or `HH:MM:SS`, two digits each.
pub fn parse_time(raw: &str) -> Option<NaiveTime> {
    let shape_ok = match raw.len() {
        5 => raw.as_bytes()[2] == b':',
        8 => raw.as_bytes()[2] == b':' && raw.as_bytes()[5] == b':',
        _ => false,
    };
    let digits_ok = raw.bytes().enumerate().all(|(i, b)| {
        if i % 3 == 2 {
            b == b':'
        } else {
            b.is_ascii_digit()
        }
    });
    if !(shape_ok && digits_ok) {
        return None;
    }
    let format = if raw.len() == 5 { "%H:%M" } else { "%H:%M:%S" };
    NaiveTime::parse_from_str(raw, format).ok()
}

/// Validates quiet hours at `field` (`quiet_hours`). The zone attribute's view is
/// only checked for its form here; whether it exists is the store's to say.
pub fn compile_quiet_hours(
    spec: &QuietHoursSpec,
    field: &str,
    problems: &mut Vec<FieldProblem>,
) -> Option<QuietHours> {
    let before = problems.len();
    let mut problem = |at: &str, code, detail: String| {
        problems.push(FieldProblem {
            field: format!("{field}/{at}"),
            code,
            detail,
        })
    };
    let mut time = |at: &str, raw: &str| {
        let parsed = parse_time(raw);
        if parsed.is_none() {
            problem(
                at,
                "invalid_time",
                format!("{raw:?} is not a time like 21:00 or 21:00:30"),
            );
        }
        parsed
    };
    let start = time("start", &spec.start);
    let end = time("end", &spec.end);
    let default_zone = parse_zone(&spec.default_time_zone);
    let mut problem = |at: &str, code, detail: String| {
        problems.push(FieldProblem {
            field: format!("{field}/{at}"),
            code,
            detail,
        })
    };
    if start.is_some() && start == end {
        problem(
            "end",
            "empty_quiet_hours",
            "start and end are the same time".into(),
        );
    }
    if default_zone.is_none() {
        problem(
            "default_time_zone",
            "unknown_time_zone",
            format!(
                "{:?} is not an IANA time zone like Europe/Paris or UTC",
                spec.default_time_zone
            ),
        );
    }
    if let Some(zone) = &spec.time_zone {
        if !crate::profile::valid_view_id(&zone.view) {
            problem(
                "time_zone/view",
                "invalid_view",
                format!("{:?} is not a view id", zone.view),
            );
        }
        if zone.attribute.trim().is_empty() || zone.attribute.len() > 200 {
            problem(
                "time_zone/attribute",
                "invalid_attribute",
                "an attribute name of 1 to 200 characters".into(),
            );
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(QuietHours {
        start: start?,
        end: end?,
        time_zone: spec.time_zone.clone(),
        default_zone: default_zone?,
    })
}

impl QuietHours {
    /// Whether local wall-clock time `t` is inside the window.
    pub fn is_quiet(&self, t: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// The person's zone: `named` if it is a zone, else the default (and `false`).
    pub fn zone(&self, named: Option<&str>) -> (Tz, bool) {
        match named.and_then(parse_zone) {
            Some(zone) => (zone, true),
            None => (self.default_zone.clone(), false),
        }
    }

    /// When the quiet period `at` falls in ends, in `zone`; `None` if `at` is not
    /// quiet there.
    pub fn release_at(&self, at: DateTime<Utc>, zone: &Tz) -> Option<DateTime<Utc>> {
        let at = timestamp(at);
        let local = zone.to_datetime(at);
        let t = naive_time(local.time());
        if !self.is_quiet(t) {
            return None;
        }
        let mut date = local.date();
        if t >= self.end {
            date = date.tomorrow().ok()?;
        }
        let wall = date.to_datetime(civil_time(self.end));
        first_after(zone, wall, at).map(utc_of)
    }

    /// What `choice` does with a firing at `at` in `zone`.
    pub fn judge(&self, choice: QuietChoice, at: DateTime<Utc>, zone: &Tz) -> QuietVerdict {
        match (choice, self.release_at(at, zone)) {
            (QuietChoice::Ignore, _) | (_, None) => QuietVerdict::Send,
            (QuietChoice::Hold, Some(until)) => QuietVerdict::Hold { until },
            (QuietChoice::Drop, Some(_)) => QuietVerdict::Drop,
        }
    }
}

/// `wall` in `zone`, as an instant after `at`: a repeated time's first occurrence
/// after `at`; a skipped time moves on a minute at a time to the first that exists.
fn first_after(zone: &Tz, wall: civil::DateTime, at: Timestamp) -> Option<Timestamp> {
    let mut wall = wall;
    // A gap is at most a few hours; a day of minutes is a generous bound.
    for _ in 0..1440 {
        match zone.to_ambiguous_timestamp(wall).offset() {
            AmbiguousOffset::Unambiguous { offset } => return offset.to_timestamp(wall).ok(),
            AmbiguousOffset::Fold { before, after } => {
                let first = before.to_timestamp(wall).ok()?;
                return if first > at {
                    Some(first)
                } else {
                    after.to_timestamp(wall).ok()
                };
            }
            AmbiguousOffset::Gap { .. } => {
                wall = wall.checked_add(jiff::Span::new().minutes(1)).ok()?
            }
        }
    }
    None
}

/// Held firings: `T#{tenant}#RHELD` / `{release time}#{rule}#{event hash}`, read in
/// release order by the `timers` job.
pub mod keys {
    use crate::ids::TenantId;
    use chrono::{DateTime, Utc};

    pub fn held(tenant: &TenantId) -> String {
        format!("T#{tenant}#RHELD")
    }
    pub fn held_firing(release_at: DateTime<Utc>, rule: &str, event_hash: &str) -> String {
        format!("{}#{rule}#{event_hash}", crate::tape::time_key(release_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn hours(start: &str, end: &str) -> QuietHours {
        let spec = QuietHoursSpec {
            start: start.into(),
            end: end.into(),
            time_zone: None,
            default_time_zone: "UTC".into(),
        };
        compile_quiet_hours(&spec, "quiet_hours", &mut Vec::new()).unwrap()
    }

    #[test]
    fn times_are_two_digit_hours_minutes_and_optional_seconds() {
        assert_eq!(parse_time("21:00"), NaiveTime::from_hms_opt(21, 0, 0));
        assert_eq!(parse_time("08:05:30"), NaiveTime::from_hms_opt(8, 5, 30));
        for bad in [
            "8:00", "24:00", "21:60", "21:00:", "21-00", "2100", "21:00:0x", "",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_window_across_midnight_ends_the_next_morning() {
        let quiet = hours("21:00", "08:00");
        let paris = parse_zone("Europe/Paris").unwrap();
        // 22:30 in Paris (winter, UTC+1): held until 08:00 Paris the next day.
        assert_eq!(
            quiet.release_at(at("2026-12-01T21:30:00Z"), &paris),
            Some(at("2026-12-02T07:00:00Z"))
        );
        // 03:00 in Paris: until 08:00 the same day.
        assert_eq!(
            quiet.release_at(at("2026-12-02T02:00:00Z"), &paris),
            Some(at("2026-12-02T07:00:00Z"))
        );
        // 12:00 in Paris: not quiet; 08:00 itself is the end, not quiet either.
        assert_eq!(quiet.release_at(at("2026-12-02T11:00:00Z"), &paris), None);
        assert_eq!(quiet.release_at(at("2026-12-02T07:00:00Z"), &paris), None);
        // The same instant is 21:30 in UTC: quiet there.
        assert_eq!(
            quiet.release_at(at("2026-12-01T21:30:00Z"), &Tz::UTC),
            Some(at("2026-12-02T08:00:00Z"))
        );
    }

    #[test]
    fn a_window_within_a_day_and_the_rules_choices() {
        let quiet = hours("12:00:00", "12:00:30");
        let noon = at("2026-12-01T12:00:10Z");
        let until = at("2026-12-01T12:00:30Z");
        assert_eq!(
            quiet.judge(QuietChoice::Hold, noon, &Tz::UTC),
            QuietVerdict::Hold { until }
        );
        assert_eq!(
            quiet.judge(QuietChoice::Drop, noon, &Tz::UTC),
            QuietVerdict::Drop
        );
        assert_eq!(
            quiet.judge(QuietChoice::Ignore, noon, &Tz::UTC),
            QuietVerdict::Send
        );
        assert_eq!(
            quiet.judge(QuietChoice::Drop, until, &Tz::UTC),
            QuietVerdict::Send
        );
    }

    #[test]
    fn a_release_skipped_by_daylight_saving_moves_to_the_first_valid_minute() {
        // Paris skips 02:00 to 03:00 on 2026-03-29.
        let quiet = hours("01:00", "02:30");
        let paris = parse_zone("Europe/Paris").unwrap();
        assert_eq!(
            quiet.release_at(at("2026-03-29T00:30:00Z"), &paris),
            Some(at("2026-03-29T01:00:00Z")) // 03:00 CEST
        );
        // It repeats 02:00 to 03:00 on 2026-10-25: the first 02:30 after the firing.
        let quiet = hours("01:00", "02:30");
        assert_eq!(
            quiet.release_at(at("2026-10-25T00:10:00Z"), &paris), // 02:10 CEST
            Some(at("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            quiet.release_at(at("2026-10-25T01:10:00Z"), &paris), // 02:10 CET
            Some(at("2026-10-25T01:30:00Z"))
        );
    }

    #[test]
    fn a_person_without_a_known_zone_gets_the_default() {
        let quiet = hours("21:00", "08:00");
        assert!(quiet.zone(Some("Asia/Tokyo")).1);
        assert_eq!(zone_name(&quiet.zone(Some("Asia/Tokyo")).0), "Asia/Tokyo");
        assert_eq!(quiet.zone(Some("Mars/Olympus")), (Tz::UTC, false));
        assert_eq!(quiet.zone(None), (Tz::UTC, false));
    }

    #[test]
    fn invalid_quiet_hours_name_each_field() {
        let spec = QuietHoursSpec {
            start: "25:00".into(),
            end: "8am".into(),
            time_zone: Some(ZoneAttribute {
                view: "no view!".into(),
                attribute: " ".into(),
            }),
            default_time_zone: "Europe/Pariss".into(),
        };
        let mut problems = Vec::new();
        assert!(compile_quiet_hours(&spec, "quiet_hours", &mut problems).is_none());
        let found: Vec<_> = problems
            .iter()
            .map(|p| (p.field.as_str(), p.code))
            .collect();
        assert_eq!(
            found,
            [
                ("quiet_hours/start", "invalid_time"),
                ("quiet_hours/end", "invalid_time"),
                ("quiet_hours/default_time_zone", "unknown_time_zone"),
                ("quiet_hours/time_zone/view", "invalid_view"),
                ("quiet_hours/time_zone/attribute", "invalid_attribute"),
            ]
        );
        let mut problems = Vec::new();
        let same = QuietHoursSpec {
            start: "21:00".into(),
            end: "21:00:00".into(),
            time_zone: None,
            default_time_zone: "UTC".into(),
        };
        assert!(compile_quiet_hours(&same, "quiet_hours", &mut problems).is_none());
        assert_eq!(problems[0].code, "empty_quiet_hours");
    }
}
