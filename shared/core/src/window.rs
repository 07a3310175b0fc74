//! Lookback windows such as `90m`, `24h` or `30d`: one parser, with the rules of the
//! API that reads them (see `docs/DECISIONS.md`, "One window parser").

use chrono::Duration;

/// What an API accepts as a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowRules {
    /// Whether `m` (minutes) is a unit; `h` and `d` always are.
    pub minutes: bool,
    /// The longest window, in days.
    pub max_days: i64,
    /// Only the canonical spelling: digits without a leading zero or sign, so that
    /// one window has one name (analytics windows name their reports).
    pub canonical: bool,
}

/// Views' and rules' windows: `90m`, `24h`, `30d`, at most 3650 days.
pub const VIEW_WINDOWS: WindowRules = WindowRules {
    minutes: true,
    max_days: 3650,
    canonical: false,
};

/// Analytics windows: whole hours or days, at most 400 days, spelled canonically.
pub const ANALYTICS_WINDOWS: WindowRules = WindowRules {
    minutes: false,
    max_days: 400,
    canonical: true,
};

/// The window `raw` names under `rules`, or `None`.
pub fn parse(raw: &str, rules: &WindowRules) -> Option<Duration> {
    // ASCII only: the unit is the last byte, and splitting inside a character panics.
    if !raw.is_ascii() {
        return None;
    }
    let (digits, unit) = raw.split_at(raw.len().checked_sub(1)?);
    let canonical = !digits.is_empty()
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit());
    if rules.canonical && !canonical {
        return None;
    }
    let unit_seconds: i64 = match unit {
        "m" if rules.minutes => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    let max_seconds = rules.max_days * 86_400;
    // Bounded before any arithmetic: chrono panics on overflow.
    let n: i64 = digits
        .parse()
        .ok()
        .filter(|n| (1..=max_seconds / 60).contains(n))?;
    let seconds = n * unit_seconds;
    (seconds <= max_seconds).then(|| Duration::seconds(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_api_keeps_its_own_rules() {
        let cases: &[(&str, Option<i64>, Option<i64>)] = &[
            // (raw, as a view window in seconds, as an analytics window in seconds)
            ("90m", Some(5400), None),
            ("24h", Some(86_400), Some(86_400)),
            ("30d", Some(2_592_000), Some(2_592_000)),
            ("400d", Some(34_560_000), Some(34_560_000)),
            ("401d", Some(34_646_400), None),
            ("9600h", Some(34_560_000), Some(34_560_000)),
            ("3650d", Some(315_360_000), None),
            ("3651d", None, None),
            ("07d", Some(604_800), None),
            ("+7d", Some(604_800), None),
            ("0d", None, None),
            ("-1d", None, None),
            ("d", None, None),
            ("", None, None),
            ("3w", None, None),
            ("5µ", None, None),
            ("99999999999999999999d", None, None),
        ];
        for (raw, view, analytics) in cases {
            let seconds = |rules| parse(raw, rules).map(|d| d.num_seconds());
            assert_eq!(seconds(&VIEW_WINDOWS), *view, "view {raw:?}");
            assert_eq!(seconds(&ANALYTICS_WINDOWS), *analytics, "analytics {raw:?}");
        }
    }
}
