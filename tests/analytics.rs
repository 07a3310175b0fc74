//! Journey analytics on the emulator. Every figure the API serves is checked against
//! an independent computation of the same definition in SQL (SQLite, in memory) over
//! the same events: several tenants, duplicates, late events, a single-event journey
//! and an event in the future. The scheduled handler gets a real EventBridge payload;
//! the on-demand run travels API → EventBridge bus → rule → SQS → handler.

use chrono::{DateTime, Duration, DurationRound, Utc};
use cjaas_tests::{call, fixture, post_batch, receive, rule_to_queue, Stack};
use http::StatusCode;
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const WINDOWS: [(&str, i64); 3] = [("24h", 86_400), ("7d", 7 * 86_400), ("30d", 30 * 86_400)];
const GAP_MS: i64 = 30 * 60 * 1000;
const PATH_STEPS: i64 = 3;
const TOP_PATHS: i64 = 10;
const FUNNEL: [&str; 3] = ["product.viewed", "cart.added", "order.paid"];
const FUNNEL_WITHIN_MS: i64 = 3_600_000;
const TYPES: [&str; 6] = [
    "page.viewed",
    "product.viewed",
    "cart.added",
    "order.paid",
    "support.chat",
    "email.opened",
];

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// One event as sent, and as the oracle sees it.
#[derive(Clone)]
struct Sent {
    person: String,
    id: String,
    time: DateTime<Utc>,
    ty: String,
}

impl Sent {
    fn cloud_event(&self) -> Value {
        json!({"specversion": "1.0", "id": self.id, "source": "/web", "type": self.ty,
               "person": self.person, "time": self.time, "data": {}})
    }
}

/// Journeys over the last 35 days: sessions of steps a few minutes apart, broken by
/// longer gaps; one person with a single event, one with an event in the future.
fn journeys(seed: u64, tenant: &str, now: DateTime<Utc>) -> Vec<Sent> {
    let mut rng = Lcg(seed);
    let mut sent = Vec::new();
    for p in 0..9 {
        let person = format!("p{p}");
        let mut time = now - Duration::minutes(rng.next(35 * 24 * 60) as i64);
        let steps = if p == 0 { 1 } else { 6 + rng.next(10) };
        for i in 0..steps {
            let ty = if rng.next(7) == 0 {
                format!("{tenant}.only")
            } else {
                TYPES[rng.next(6) as usize].to_owned()
            };
            sent.push(Sent {
                person: person.clone(),
                id: format!("{person}-{i}"),
                time,
                ty,
            });
            time += match rng.next(4) {
                0 => Duration::minutes(31 + rng.next(300) as i64),
                1 => Duration::hours(20 + rng.next(50) as i64),
                _ => Duration::seconds(30 + rng.next(1500) as i64),
            };
        }
    }
    // The funnel, completed in time by one person and too slowly by another.
    for (person, gaps) in [("buyer", [5, 10]), ("slow", [20, 50])] {
        let mut time = now - Duration::hours(3);
        for (i, ty) in FUNNEL.iter().enumerate() {
            sent.push(Sent {
                person: person.into(),
                id: format!("{person}-{i}"),
                time,
                ty: ty.to_string(),
            });
            time += Duration::minutes(gaps.get(i).copied().unwrap_or(0));
        }
    }
    sent.push(Sent {
        person: "p1".into(),
        id: "future".into(),
        time: now + Duration::minutes(30),
        ty: "page.viewed".into(),
    });
    sent
}

/// The independent computation: the same definitions (docs/ANALYTICS.md) in SQL.
struct Oracle(Connection);

#[derive(Debug, PartialEq)]
struct Figures {
    totals: (i64, i64, i64),
    types: BTreeMap<String, (i64, i64, i64, i64)>,
    transitions: BTreeMap<(String, String), i64>,
    top_paths: Vec<(Vec<String>, i64)>,
    valleys: Vec<String>,
    funnel: (Vec<i64>, Vec<Option<i64>>),
}

/// The window's events with session starts and ends marked. Parameters: tenant, from
/// and to (ms), gap (ms).
const SESSIONS: &str = "
WITH w AS (SELECT person, t, type FROM tape WHERE tenant = ?1 AND t >= ?2 AND t < ?3),
o AS (SELECT person, t, type, LAG(t) OVER p AS prev_t, LAG(type) OVER p AS prev_type,
             LEAD(t) OVER p AS next_t
      FROM w WINDOW p AS (PARTITION BY person ORDER BY t)),
s AS (SELECT *, (prev_t IS NULL OR t - prev_t > ?4) AS starts,
                (next_t IS NULL OR next_t - t > ?4) AS ends FROM o)";

impl Oracle {
    fn new() -> Self {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE sent (tenant TEXT, person TEXT, source TEXT, id TEXT, t INTEGER, type TEXT);
             -- The Tape keeps one copy per (tenant, source, id).
             CREATE VIEW tape AS SELECT tenant, person, MIN(t) AS t, MIN(type) AS type
                                 FROM sent GROUP BY tenant, source, id;",
        )
        .unwrap();
        Self(db)
    }

    fn load(&self, tenant: &str, events: &[Sent]) {
        let mut insert = self
            .0
            .prepare("INSERT INTO sent VALUES (?1, ?2, '/web', ?3, ?4, ?5)")
            .unwrap();
        for e in events {
            insert
                .execute(params![
                    tenant,
                    e.person,
                    e.id,
                    e.time.timestamp_millis(),
                    e.ty
                ])
                .unwrap();
        }
    }

    fn figures(&self, tenant: &str, from: i64, to: i64) -> Figures {
        let db = &self.0;
        let base = params![tenant, from, to, GAP_MS];
        let totals = db
            .query_row(&format!("{SESSIONS} SELECT COUNT(DISTINCT person), COALESCE(SUM(starts), 0), COUNT(*) FROM s"), base, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        let types_sql = format!("{SESSIONS} SELECT type, COUNT(*) AS events, COUNT(DISTINCT person), SUM(starts), SUM(ends) AS exits FROM s GROUP BY type");
        let mut stmt = db.prepare(&types_sql).unwrap();
        let types = stmt
            .query_map(base, |r| {
                Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let valleys_sql = format!(
            "{types_sql} ORDER BY CAST(exits AS REAL) / events DESC, exits DESC, type ASC LIMIT 10"
        );
        let mut stmt = db.prepare(&valleys_sql).unwrap();
        let valleys = stmt
            .query_map(base, |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut stmt = db
            .prepare(&format!("{SESSIONS} SELECT prev_type, type, COUNT(*) FROM s WHERE NOT starts GROUP BY prev_type, type"))
            .unwrap();
        let transitions = stmt
            .query_map(base, |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut stmt = db
            .prepare(&format!(
                "{SESSIONS},
                 q AS (SELECT *, SUM(starts) OVER (PARTITION BY person ORDER BY t ROWS UNBOUNDED PRECEDING) AS sid FROM s),
                 r AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY person, sid ORDER BY t) AS step FROM q)
                 SELECT path, COUNT(*) AS n FROM (
                   SELECT group_concat(type, char(1) ORDER BY t) AS path FROM r WHERE step <= ?5 GROUP BY person, sid)
                 GROUP BY path ORDER BY n DESC, path ASC LIMIT ?6"
            ))
            .unwrap();
        let top_paths = stmt
            .query_map(
                params![tenant, from, to, GAP_MS, PATH_STEPS, TOP_PATHS],
                |r| {
                    let path: String = r.get(0)?;
                    Ok((path.split('\u{1}').map(str::to_owned).collect(), r.get(1)?))
                },
            )
            .unwrap()
            .map(Result::unwrap)
            .collect();
        Figures {
            totals,
            types,
            transitions,
            top_paths,
            valleys,
            funnel: self.funnel(tenant, from, to),
        }
    }

    /// Greedy from each person's first step-1 event; every step within the limit of it.
    fn funnel(&self, tenant: &str, from: i64, to: i64) -> (Vec<i64>, Vec<Option<i64>>) {
        let mut stmt = self
            .0
            .prepare(
                "WITH w AS (SELECT person, t, type FROM tape WHERE tenant = ?1 AND t >= ?2 AND t < ?3),
                 a AS (SELECT person, MIN(t) AS t1 FROM w WHERE type = ?4 GROUP BY person),
                 b AS (SELECT person, t1, (SELECT MIN(t) FROM w x WHERE x.person = a.person AND x.type = ?5
                                             AND x.t > a.t1 AND x.t <= a.t1 + ?7) AS t2 FROM a),
                 c AS (SELECT t1, t2, (SELECT MIN(t) FROM w x WHERE x.person = b.person AND x.type = ?6
                                         AND x.t > b.t2 AND x.t <= b.t1 + ?7) AS t3 FROM b)
                 SELECT COUNT(*), COUNT(t2), COUNT(t3),
                   (SELECT t2 - t1 FROM c WHERE t2 IS NOT NULL ORDER BY t2 - t1
                      LIMIT 1 OFFSET (SELECT (COUNT(t2) - 1) / 2 FROM c)),
                   (SELECT t3 - t2 FROM c WHERE t3 IS NOT NULL ORDER BY t3 - t2
                      LIMIT 1 OFFSET (SELECT (COUNT(t3) - 1) / 2 FROM c))
                 FROM c",
            )
            .unwrap();
        stmt.query_row(
            params![
                tenant,
                from,
                to,
                FUNNEL[0],
                FUNNEL[1],
                FUNNEL[2],
                FUNNEL_WITHIN_MS
            ],
            |r| {
                Ok((
                    vec![r.get(0)?, r.get(1)?, r.get(2)?],
                    vec![r.get(3)?, r.get(4)?],
                ))
            },
        )
        .unwrap()
    }
}

/// The same figures, read from a served report.
fn served(report: &Value) -> Figures {
    let int = |v: &Value| v.as_i64().unwrap();
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    let types = report["event_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                text(&t["type"]),
                (
                    int(&t["events"]),
                    int(&t["persons"]),
                    int(&t["entries"]),
                    int(&t["exits"]),
                ),
            )
        })
        .collect();
    let transitions = report["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| ((text(&t["from"]), text(&t["to"])), int(&t["count"])))
        .collect();
    let top_paths = report["top_paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["steps"].as_array().unwrap().iter().map(text).collect(),
                int(&p["sessions"]),
            )
        })
        .collect();
    let valleys = report["valleys_of_doom"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| text(&t["type"]))
        .collect();
    let funnel = &report["funnels"][0]["steps"];
    let steps = funnel.as_array().unwrap();
    Figures {
        totals: (
            int(&report["persons"]),
            int(&report["sessions"]),
            int(&report["events"]),
        ),
        types,
        transitions,
        top_paths,
        valleys,
        funnel: (
            steps.iter().map(|s| int(&s["persons"])).collect(),
            steps[1..]
                .iter()
                .map(|s| s["median_ms_from_previous"].as_i64())
                .collect(),
        ),
    }
}

fn millis(value: &Value) -> i64 {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

async fn ingest(stack: &Stack, token: &str, events: &[Sent]) {
    for chunk in events.chunks(100) {
        let batch: Vec<Value> = chunk.iter().map(Sent::cloud_event).collect();
        let (status, _, body) = stack.call(token, post_batch(&batch)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
}

/// Checks every window of a tenant's served reports against the oracle.
async fn check_reports(stack: &Stack, token: &str, tenant: &str, oracle: &Oracle) -> Vec<Value> {
    let mut reports = Vec::new();
    for (window, seconds) in WINDOWS {
        let (status, _, report) = stack
            .call(
                token,
                call("GET", &format!("/v1/analytics?window={window}"), None),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        let (from, to) = (millis(&report["from"]), millis(&report["to"]));
        assert_eq!(to - from, seconds * 1000);
        let expected = oracle.figures(tenant, from, to);
        assert!(
            expected.totals.2 > 0,
            "the {window} window has events to check"
        );
        assert_eq!(
            served(&report),
            expected,
            "tenant {tenant}, window {window}"
        );
        reports.push(report);
    }
    reports
}

async fn create_funnel(stack: &Stack, token: &str) -> String {
    let body =
        json!({"name": "purchase", "steps": FUNNEL, "within_seconds": FUNNEL_WITHIN_MS / 1000});
    let (status, _, funnel) = stack
        .call(token, call("POST", "/v1/funnels", Some(body)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{funnel}");
    funnel["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_figure_matches_sql_across_tenants_with_late_and_duplicate_events() {
    let stack = Stack::create().await;
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let oracle = Oracle::new();
    let (a, a_token) = stack.create_tenant().await;
    let (b, b_token) = stack.create_tenant().await;
    for (seed, (tenant, token)) in [(7, (&a, &a_token)), (11, (&b, &b_token))] {
        create_funnel(&stack, token).await;
        let events = journeys(seed, tenant, now);
        ingest(&stack, token, &events).await;
        // Resent events (a producer's retry) reach the Tape once.
        ingest(&stack, token, &events[..12]).await;
        oracle.load(tenant, &events);
        oracle.load(tenant, &events[..12]);
    }
    assert!(stack.pump().await.is_empty());

    let mut schedule = fixture("analytics-schedule.json");
    schedule["time"] = json!(now);
    let result = stack.run_analytics(schedule).await.unwrap();
    assert_eq!(result["runs"].as_array().unwrap().len(), 2, "{result}");
    let a_before = check_reports(&stack, &a_token, &a, &oracle).await;
    check_reports(&stack, &b_token, &b, &oracle).await;
    let only_b = format!("{b}.only");
    assert!(
        a_before.iter().all(|r| !r.to_string().contains(&only_b)),
        "tenants never mix"
    );

    // Late events (old event times, written now) and a new person, for tenant a only.
    let late: Vec<Sent> = (0..6)
        .map(|i| Sent {
            person: if i < 4 {
                format!("p{}", i + 1)
            } else {
                "late-comer".into()
            },
            id: format!("late-{i}"),
            time: now - Duration::hours(30 + 7 * i),
            ty: TYPES[i as usize % 6].to_owned(),
        })
        .collect();
    ingest(&stack, &a_token, &late).await;
    oracle.load(&a, &late);
    assert!(stack.pump().await.is_empty());

    // The on-demand run: API → bus → rule → SQS → the analytics handler.
    let runs = json!({"source": ["cjaas.analytics"], "detail-type": ["AnalyticsRunRequested"]});
    let queue = rule_to_queue(&stack.sdk, &stack.bus, runs).await;
    let (status, _, accepted) = stack
        .call(&a_token, call("POST", "/v1/analytics/runs", None))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let (status, headers, limited) = stack
        .call(&a_token, call("POST", "/v1/analytics/runs", None))
        .await;
    assert_eq!(
        (status, limited["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    assert!(headers.contains_key("retry-after"));
    let delivered = receive(&stack.sdk, &queue, 1).await.remove(0);
    assert_eq!(delivered["detail"]["tenant"], json!(a));
    stack.run_analytics(delivered).await.unwrap();

    let a_after = check_reports(&stack, &a_token, &a, &oracle).await;
    assert_ne!(
        a_after[2]["events"], a_before[2]["events"],
        "the late events count"
    );
    let (_, _, status) = stack
        .call(&a_token, call("GET", "/v1/analytics/status", None))
        .await;
    assert_eq!(
        status["last_run"]["full"],
        json!(false),
        "the second run is incremental: {status}"
    );
    // Tenant b was not rerun, and its figures still hold.
    check_reports(&stack, &b_token, &b, &oracle).await;
}

#[tokio::test]
async fn funnels_settings_and_reports_refuse_bad_input_and_other_tenants() {
    let stack = Stack::create().await;
    let (_, admin) = stack.create_tenant().await;
    let (_, other) = stack.create_tenant().await;
    let reader = stack.create_key(&admin, &["tape:read"]).await;

    let problem =
        |result: &(StatusCode, http::HeaderMap, Value), status: StatusCode, code: &str| {
            assert_eq!(
                (result.0, result.2["code"].as_str()),
                (status, Some(code)),
                "{}",
                result.2
            );
            assert_eq!(result.1["content-type"], "application/problem+json");
        };
    let bad = json!({"name": "", "steps": ["only"], "within_seconds": 0});
    let result = stack
        .call(&admin, call("POST", "/v1/funnels", Some(bad)))
        .await;
    problem(&result, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    let fields: Vec<_> = result.2["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "steps", "within_seconds"]);
    let unknown_field =
        json!({"name": "f", "steps": ["a", "b"], "within_seconds": 60, "tenant": "x"});
    problem(
        &stack
            .call(&admin, call("POST", "/v1/funnels", Some(unknown_field)))
            .await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    );
    let funnel = json!({"name": "f", "steps": ["a", "b"], "within_seconds": 60});
    problem(
        &stack
            .call(&reader, call("POST", "/v1/funnels", Some(funnel.clone())))
            .await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
    let id = create_funnel(&stack, &admin).await;

    // Another tenant cannot see, change or delete it.
    let path = format!("/v1/funnels/{id}");
    problem(
        &stack.call(&other, call("GET", &path, None)).await,
        StatusCode::NOT_FOUND,
        "funnel_not_found",
    );
    problem(
        &stack
            .call(&other, call("PUT", &path, Some(funnel.clone())))
            .await,
        StatusCode::NOT_FOUND,
        "funnel_not_found",
    );
    problem(
        &stack.call(&other, call("DELETE", &path, None)).await,
        StatusCode::NOT_FOUND,
        "funnel_not_found",
    );
    let (_, _, theirs) = stack.call(&other, call("GET", "/v1/funnels", None)).await;
    assert_eq!(theirs["funnels"], json!([]));
    let (status, _, mine) = stack.call(&reader, call("GET", &path, None)).await;
    assert_eq!(
        (status, mine["steps"].clone()),
        (StatusCode::OK, json!(FUNNEL))
    );

    // Reports: a window is required and must be configured; none is computed yet.
    problem(
        &stack
            .call(&reader, call("GET", "/v1/analytics", None))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    problem(
        &stack
            .call(&reader, call("GET", "/v1/analytics?window=2w", None))
            .await,
        StatusCode::BAD_REQUEST,
        "unknown_window",
    );
    problem(
        &stack
            .call(&reader, call("GET", "/v1/analytics?window=7d", None))
            .await,
        StatusCode::NOT_FOUND,
        "not_computed",
    );
    problem(
        &stack
            .call(
                &reader,
                call("GET", &format!("{path}/report?window=7d"), None),
            )
            .await,
        StatusCode::NOT_FOUND,
        "not_computed",
    );

    // Settings are validated whole; valid ones take effect on the next run.
    let bad = json!({"windows": ["7d", "7d"], "session_gap_seconds": 5});
    let result = stack
        .call(&admin, call("PUT", "/v1/analytics/settings", Some(bad)))
        .await;
    problem(&result, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    problem(
        &stack
            .call(
                &reader,
                call("PUT", "/v1/analytics/settings", Some(json!({}))),
            )
            .await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
    let good = json!({"windows": ["1h", "14d"], "session_gap_seconds": 600});
    let (status, _, saved) = stack
        .call(&admin, call("PUT", "/v1/analytics/settings", Some(good)))
        .await;
    assert_eq!(
        (status, saved["top_paths"].clone()),
        (StatusCode::OK, json!(10))
    );
    let mut schedule = fixture("analytics-schedule.json");
    schedule["time"] = json!(Utc::now());
    stack.run_analytics(schedule).await.unwrap();
    let (status, _, report) = stack
        .call(
            &reader,
            call("GET", &format!("{path}/report?window=14d"), None),
        )
        .await;
    assert_eq!(
        (status, report["funnel"]["steps"][0]["persons"].clone()),
        (StatusCode::OK, json!(0)),
        "{report}"
    );
    problem(
        &stack
            .call(&reader, call("GET", "/v1/analytics?window=7d", None))
            .await,
        StatusCode::BAD_REQUEST,
        "unknown_window",
    );

    // The handler refuses events it does not know, and unknown tenants.
    let mut stray = fixture("analytics-run-requested.json");
    stray["detail"]["tenant"] = json!("no-such-tenant");
    assert!(stack
        .run_analytics(stray.clone())
        .await
        .unwrap_err()
        .starts_with("unknown_tenant"));
    stray["detail-type"] = json!("SomethingElse");
    assert!(stack
        .run_analytics(stray)
        .await
        .unwrap_err()
        .starts_with("unexpected_event"));
}
