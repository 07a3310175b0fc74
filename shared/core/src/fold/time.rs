//! Event times from Tape sort keys, read once per folded event.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

/// The event time encoded in a Tape sort key (`E#{time}#{hash}`).
pub fn time_of_sort_key(key: &str) -> Option<DateTime<Utc>> {
    SortKeyTimes::default().time_of(key)
}

/// Reads the times of many sort keys, as [`time_of_sort_key`] does, keeping the date of
/// the last one: a person's keys come in order, so most share their date with the key
/// before, and only the time of day is read.
#[derive(Debug, Clone, Default)]
pub struct SortKeyTimes {
    /// The last date read: its ten bytes as written and the date they name.
    last: Option<([u8; 10], NaiveDate)>,
}

/// The width of the Tape's own time form (`2026-01-02T03:04:05.123456Z`, see
/// [`crate::tape::time_key`]).
const WIDTH: usize = 27;

impl SortKeyTimes {
    /// The time of `key`, or `None` where it holds none.
    pub fn time_of(&mut self, key: &str) -> Option<DateTime<Utc>> {
        let rest = key.strip_prefix("E#")?;
        let fixed = rest
            .get(..WIDTH)
            .filter(|_| matches!(rest.as_bytes().get(WIDTH), None | Some(b'#')));
        if let Some(time) = fixed.and_then(|time| self.fixed_width(time)) {
            return Some(time);
        }
        let time = rest.split('#').next()?;
        DateTime::parse_from_rfc3339(time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The Tape's own form without a general parser; anything else is `None`.
    fn fixed_width(&mut self, time: &str) -> Option<DateTime<Utc>> {
        let b = time.as_bytes();
        if b.len() != WIDTH || b[26] != b'Z' || b[19] != b'.' {
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
        let prefix: [u8; 10] = b[..10].try_into().expect("ten bytes");
        let date = match self.last {
            Some((last, date)) if last == prefix => date,
            _ => {
                let date =
                    NaiveDate::from_ymd_opt(number(0, 4)? as i32, number(5, 7)?, number(8, 10)?)?;
                self.last = Some((prefix, date));
                date
            }
        };
        let time = NaiveTime::from_hms_micro_opt(
            number(11, 13)?,
            number(14, 16)?,
            number(17, 19)?,
            number(20, 26)?,
        )?;
        Some(date.and_time(time).and_utc())
    }
}
