use super::*;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::minutes(minute)
}

fn funnel(steps: &[&str], within_seconds: u64) -> Funnel {
    Funnel {
        id: "f".into(),
        definition: FunnelDefinition {
            name: "f".into(),
            steps: steps.iter().map(|s| s.to_string()).collect(),
            within_seconds,
        },
        created_at: at(0),
        updated_at: at(0),
    }
}

fn fold(events: &[(i64, &str)], funnels: &[Funnel], now: DateTime<Utc>) -> PersonDigest {
    let settings = AnalyticsSettings {
        windows: vec!["1d".into(), "7d".into()],
        ..Default::default()
    };
    let mut person = PersonFold::new(&settings, funnels, now);
    for (minute, ty) in events {
        person.push(Step {
            time: at(*minute),
            ty,
        });
    }
    person.finish("b".into())
}

#[test]
fn windows_are_whole_hours_or_days() {
    assert_eq!(window_seconds("24h"), Some(86_400));
    assert_eq!(window_seconds("7d"), Some(604_800));
    for bad in [
        "",
        "h",
        "0d",
        "07d",
        "1w",
        "-1d",
        "401d",
        "1.5h",
        "99999999999999999999d",
        "7é",
        "µ",
    ] {
        assert_eq!(window_seconds(bad), None, "{bad}");
    }
}

#[test]
fn a_gap_longer_than_the_setting_starts_a_session() {
    let digest = fold(&[(0, "a"), (30, "b"), (61, "c"), (62, "a")], &[], at(100));
    let day = &digest.windows["1d"];
    assert_eq!(day.sessions, 2);
    assert_eq!(day.transitions["a"]["b"], 1);
    assert_eq!(day.transitions["c"]["a"], 1);
    assert!(
        !day.transitions.contains_key("b"),
        "no edge across sessions"
    );
    assert_eq!((day.types["a"].entries, day.types["c"].entries), (1, 1));
    assert_eq!((day.types["b"].exits, day.types["a"].exits), (1, 1));
    assert_eq!(day.types["a"].events, 2);
    assert_eq!(day.types["a"].persons, 1);
    assert_eq!(day.paths[r#"["a","b"]"#], 1);
    assert_eq!(day.paths[r#"["c","a"]"#], 1);
}

#[test]
fn a_single_event_is_its_own_entry_and_exit() {
    let digest = fold(&[(5, "only")], &[], at(10));
    let tally = &digest.windows["1d"];
    assert_eq!((tally.sessions, tally.events, tally.persons), (1, 1, 1));
    assert_eq!(
        tally.types["only"],
        TypeTally {
            events: 1,
            persons: 1,
            entries: 1,
            exits: 1
        }
    );
    assert!(tally.transitions.is_empty());
}

#[test]
fn digests_hold_until_the_first_event_leaves_a_window() {
    let now = at(3 * 24 * 60);
    let digest = fold(&[(0, "old"), (3 * 24 * 60 - 5, "new")], &[], now);
    assert_eq!(digest.windows["1d"].events, 1);
    assert_eq!(digest.windows["7d"].events, 2);
    // "new" leaves the 1d window a day after it happened; "old" leaves 7d later.
    assert_eq!(digest.valid_until, Some(at(4 * 24 * 60 - 5)));
    let future = fold(&[(0, "a"), (3 * 24 * 60 + 1, "later")], &[], now);
    assert_eq!(
        future.valid_until,
        Some(at(3 * 24 * 60 + 1)),
        "a future event enters later"
    );
}

#[test]
fn funnels_match_greedily_within_the_time_limit() {
    let f = funnel(&["view", "cart", "buy"], 600);
    let digest = fold(
        &[(0, "view"), (2, "view"), (5, "cart"), (11, "buy")],
        std::slice::from_ref(&f),
        at(60),
    );
    let tally = &digest.windows["1d"].funnels["f"];
    assert_eq!(
        tally.reached,
        vec![1, 1, 0],
        "buy came 11 minutes after the first view"
    );
    assert_eq!(tally.step_ms[0], BTreeMap::from([(300_000, 1)]));
    let done = fold(&[(0, "view"), (5, "cart"), (9, "buy")], &[f], at(60));
    assert_eq!(done.windows["1d"].funnels["f"].reached, vec![1, 1, 1]);
}

#[test]
fn tallies_add_and_report() {
    let f = funnel(&["a", "b"], 3600);
    let one = fold(&[(0, "a"), (1, "b")], std::slice::from_ref(&f), at(60));
    let two = fold(
        &[(0, "a"), (3, "b"), (200, "a")],
        std::slice::from_ref(&f),
        at(300),
    );
    let mut sum = Tally::default();
    sum.add(&one.windows["1d"]);
    sum.add(&two.windows["1d"]);
    let settings = AnalyticsSettings::default();
    let bounds = &windows_at(&settings, at(300))[0];
    let report = sum.report(bounds, &settings, &[f], at(300));
    assert_eq!((report.persons, report.sessions, report.events), (2, 3, 5));
    assert_eq!(
        report.transitions,
        vec![Transition {
            from: "a".into(),
            to: "b".into(),
            count: 2
        }]
    );
    let a = report.event_types.iter().find(|t| t.ty == "a").unwrap();
    assert_eq!((a.events, a.persons, a.exits), (3, 2, 1));
    assert_eq!(report.valleys_of_doom[0].ty, "b");
    assert_eq!(report.funnels[0].steps[1].persons, 2);
    assert_eq!(
        report.funnels[0].steps[1].median_ms_from_previous,
        Some(60_000)
    );
    assert_eq!(
        report.top_paths[0],
        PathReport {
            steps: vec!["a".into(), "b".into()],
            sessions: 2
        }
    );
}

#[test]
fn lower_median_of_a_multiset() {
    assert_eq!(lower_median(&BTreeMap::new()), None);
    assert_eq!(lower_median(&BTreeMap::from([(5, 1)])), Some(5));
    assert_eq!(lower_median(&BTreeMap::from([(1, 1), (9, 1)])), Some(1));
    assert_eq!(
        lower_median(&BTreeMap::from([(1, 1), (4, 2), (9, 1)])),
        Some(4)
    );
}

#[test]
fn settings_and_funnels_are_validated() {
    let bad = AnalyticsSettings {
        windows: vec!["7d".into(), "7d".into(), "2w".into()],
        session_gap_seconds: 1,
        top_paths: 0,
        path_steps: 11,
    };
    let codes: Vec<_> = bad
        .validate()
        .unwrap_err()
        .into_iter()
        .map(|p| p.code)
        .collect();
    assert_eq!(
        codes,
        [
            "duplicate_window",
            "invalid_window",
            "invalid_gap",
            "invalid_top_paths",
            "invalid_path_steps"
        ]
    );
    let funnel = FunnelDefinition {
        name: " ".into(),
        steps: vec!["a".into()],
        within_seconds: 0,
    };
    let codes: Vec<_> = funnel
        .validate()
        .unwrap_err()
        .into_iter()
        .map(|p| p.code)
        .collect();
    assert_eq!(codes, ["invalid_name", "step_count", "invalid_time_limit"]);
    assert!(AnalyticsSettings::default().validate().is_ok());
}

#[test]
fn digests_round_trip_in_their_compact_form() {
    let f = funnel(&["a", "b"], 3600);
    let digest = fold(
        &[(0, "a"), (1, "b"), (2, "a"), (90, "c"), (91, "a")],
        std::slice::from_ref(&f),
        at(120),
    );
    let stored = serde_json::to_string(&digest).unwrap();
    assert!(stored.starts_with(r#"{"v":2,"#), "{stored}");
    let back: PersonDigest = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, digest);
    let plain = serde_json::json!({"basis": "b", "windows": {}}).to_string();
    assert!(
        serde_json::from_str::<PersonDigest>(&plain).is_err(),
        "a format 1 digest is recomputed, not misread"
    );
    let dangling =
        r#"{"v":2,"basis":"b","names":[],"windows":[["1d",1,1,1,[[3,1,1,1,1]],[],[],{}]]}"#;
    assert!(serde_json::from_str::<PersonDigest>(dangling).is_err());
}

#[test]
fn many_distinct_types_fold_like_few() {
    // Past 16 distinct types the fold looks ids up in a hash index.
    let names: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
    let events: Vec<(i64, &str)> = (0..120)
        .map(|i| (i as i64, names[(i * 7) % 40].as_str()))
        .collect();
    let digest = fold(&events, &[], at(200));
    let day = &digest.windows["1d"];
    assert_eq!((day.events, day.sessions, day.types.len()), (120, 1, 40));
    assert_eq!(day.types["t0"].events, 3);
    assert_eq!(day.transitions["t0"]["t7"], 3);
    assert_eq!(day.types["t0"].entries, 1);
    assert_eq!(day.paths[r#"["t0","t7","t14"]"#], 1);
}
