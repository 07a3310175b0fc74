//! Event times from Tape sort keys, read once per folded event.

use chrono::{DateTime, NaiveDate, Utc};

/// The event time encoded in a Tape sort key (`E#{time}#{hash}`).
pub fn time_of_sort_key(key: &str) -> Option<DateTime<Utc>> {
    let time = key.strip_prefix("E#")?.split('#').next()?;
    fixed_width(time).or_else(|| {
        DateTime::parse_from_rfc3339(time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// The form the Tape writes (`2026-01-02T03:04:05.123456Z`, see
/// [`crate::tape::time_key`]) without a general parser; anything else is `None`.
fn fixed_width(time: &str) -> Option<DateTime<Utc>> {
    let b = time.as_bytes();
    if b.len() != 27 || b[26] != b'Z' || b[19] != b'.' {
        return None;
    }
    let punctuation = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if punctuation.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let number = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(number(0, 4)? as i32, number(5, 7)?, number(8, 10)?)?;
    let time = date.and_hms_micro_opt(
        number(11, 13)?,
        number(14, 16)?,
        number(17, 19)?,
        number(20, 26)?,
    )?;
    Some(time.and_utc())
}
