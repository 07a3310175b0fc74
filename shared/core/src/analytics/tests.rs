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

fn fold_stored(events: &[(i64, &str)], funnels: &[Funnel], now: DateTime<Utc>) -> StoredDigest {
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
    person.finish_stored("b", None)
}

/// [`fold_stored`], the person's figures added to `sums` from the fold.
fn fold_into(
    events: &[(i64, &str)],
    funnels: &[Funnel],
    now: DateTime<Utc>,
    sums: &mut Sums,
) -> StoredDigest {
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
    person.finish_into("b", None, sums)
}

#[test]
fn digests_round_trip_in_their_binary_form() {
    let f = funnel(&["a", "b"], 3600);
    let events = [(0, "a"), (1, "b"), (2, "a"), (90, "c"), (91, "a")];
    let digest = fold(&events, std::slice::from_ref(&f), at(120));
    let stored = fold_stored(&events, std::slice::from_ref(&f), at(120));
    assert_eq!(
        (stored.windows, stored.valid_until),
        (2, digest.valid_until)
    );
    let body = body_of(stored.bytes());
    assert!(body.starts_with(r#"{"v":3,"digest":""#), "{body}");
    assert_eq!(PersonDigest::from_body(&body, &[]), Some(digest.clone()));
    let mut sums = Sums::default();
    assert_eq!(sums.add_if_current(&body, "b", at(120)), Some(true));
    assert_eq!(sums.tally("7d"), digest.windows["7d"]);
    assert_eq!(sums.add_if_current(&body, "other basis", at(120)), None);
    let expired = digest.valid_until.unwrap();
    assert_eq!(sums.add_if_current(&body, "b", expired), None);
    assert_eq!(
        sums.tally("7d"),
        digest.windows["7d"],
        "refused digests add nothing"
    );
    let format2 = r#"{"v":2,"basis":"b","names":[],"windows":[]}"#;
    assert_eq!(
        PersonDigest::from_body(format2, &[]),
        None,
        "recomputed, not misread"
    );
    // Cut short, or an index past the names: refused whole.
    for cut in 0..stored.bytes().len() {
        assert_eq!(
            PersonDigest::from_body(&body_of(&stored.bytes()[..cut]), &[]),
            None
        );
    }
    let by_hand = |ty: u64| {
        let mut w = digest::Writer::new(digest::NAMED, "b", None);
        for v in [1, 1] {
            w.u(v); // one name, then its length
        }
        w.0.push(b'a');
        w.u(1);
        w.str("1d");
        for v in [1, 1, 1, 1, ty, 1, 1, 1, 1, 0, 0, 0] {
            w.u(v);
        }
        w.0
    };
    assert!(Sums::default().add_bytes(&by_hand(0)));
    assert!(!Sums::default().add_bytes(&by_hand(1)), "no name 1");
}

fn person_events() -> impl proptest::strategy::Strategy<Value = Vec<(i64, u8)>> {
    use proptest::prelude::*;
    prop::collection::vec((0i64..9 * 24 * 60, 0u8..24), 0..30).prop_map(|mut events| {
        events.sort();
        events
    })
}

proptest::proptest! {
    /// The run's sums by id equal the plain tallies added up, window by window.
    #[test]
    fn sums_by_id_equal_plain_tallies(persons in proptest::collection::vec(person_events(), 1..8)) {
        let names: Vec<String> = (0..24).map(|i| format!("t{}", i % 20)).collect();
        let funnels = [funnel(&["t1", "t2", "t3"], 7200)];
        let now = at(9 * 24 * 60);
        let (mut sums, mut plain) = (Sums::default(), BTreeMap::<String, Tally>::new());
        // The job's way: a person's figures added straight from their fold.
        let mut folded = Sums::default();
        for events in &persons {
            let events: Vec<(i64, &str)> =
                events.iter().map(|(m, t)| (*m, names[*t as usize].as_str())).collect();
            let digest = fold(&events, &funnels, now);
            let stored = fold_stored(&events, &funnels, now);
            let back = PersonDigest::from_body(&body_of(stored.bytes()), &[]);
            proptest::prop_assert_eq!(back.as_ref(), Some(&digest));
            proptest::prop_assert!(sums.add_bytes(stored.bytes()));
            // Format 4, by the ids of the run's dictionary, reads back the same.
            let into = fold_into(&events, &funnels, now, &mut folded);
            let back = PersonDigest::from_body(&body_of(into.bytes()), folded.types());
            proptest::prop_assert_eq!(back.as_ref(), Some(&digest));
            proptest::prop_assert!(into.bytes().len() <= stored.bytes().len());
            let mut again = Sums::with_types(folded.types()).unwrap();
            proptest::prop_assert!(again.add_bytes(into.bytes()));
            proptest::prop_assert!(
                !Sums::default().add_bytes(into.bytes()) || digest.windows.values().all(|t| t.types.is_empty()),
                "ids past the dictionary are refused"
            );
            for (window, tally) in &digest.windows {
                plain.entry(window.clone()).or_default().add(tally);
            }
        }
        for window in ["1d", "7d"] {
            let expected = plain.remove(window).unwrap_or_default();
            proptest::prop_assert_eq!(folded.tally(window), expected.clone());
            proptest::prop_assert_eq!(sums.tally(window), expected);
        }
    }
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

#[test]
fn types_by_key_then_by_name_fold_like_by_name() {
    // A person whose first steps come from a batch (by key) and the rest by name, as
    // a person cut at a batch's end is read.
    let settings = AnalyticsSettings {
        windows: vec!["1d".into()],
        ..Default::default()
    };
    let names = ["a", "b", "c", "a", "d", "b", "c", "e"];
    let keys = [4, 2, 7, 4];
    let mut plain = PersonFold::new(&settings, &[], at(100));
    let mut mixed = PersonFold::new(&settings, &[], at(100));
    for (i, ty) in names.iter().enumerate() {
        let step = Step {
            time: at(i as i64),
            ty,
        };
        plain.push(step);
        match keys.get(i) {
            Some(key) => mixed.push_keyed(step, *key),
            None => mixed.push(step),
        }
    }
    let (plain, mixed) = (plain.finish("b".into()), mixed.finish("b".into()));
    assert_eq!(mixed, plain);
    assert_eq!(plain.windows["1d"].types.len(), 5);
}
