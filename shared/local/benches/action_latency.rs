//! Benchmark: latency from an event to its action on the embedded default, over real
//! HTTP: `POST /v1/events` until a webhook receiver (in this process) gets the signed
//! call of the rule the event matched. Baseline, in the same run: the same POST until
//! the event is readable on the journey (the Tape path the action builds on).
//!
//! cargo bench -p cjaas-local --bench action_latency
//! (CJAAS_BENCH_PROBES sets the number of events; default 300.)

mod common;

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

use cjaas_core::target::TargetPolicy;
use cjaas_local::server::{bind, LocalApp};
use cjaas_local::EmbeddedStore;
use common::env_or;

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!(
        "{name:<40} n={:<5} p50={p50:>9.3?} p99={p99:>9.3?}",
        samples.len()
    );
    (p50, p99)
}

async fn receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(arrivals): State<Arrivals>, body: String| async move {
                    let body: Value = serde_json::from_str(&body).unwrap();
                    let id = body["triggering_event"]["id"].as_str().unwrap().to_owned();
                    arrivals.lock().unwrap().insert(id, Instant::now());
                    "ok"
                },
            ),
        )
        .with_state(arrivals.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, arrivals)
}

#[tokio::main]
async fn main() {
    let probes = env_or("CJAAS_BENCH_PROBES", 300) as usize;
    let dir = tempfile::tempdir().unwrap();
    // The receiver listens on loopback: a development target, allowed explicitly.
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let app = LocalApp::with_targets(store, TargetPolicy::allowing_private()).unwrap();
    app.ensure_dev_tenant().await.unwrap();
    let token = app.dev_token();
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, shutdown) = watch::channel(false);
    let server = tokio::spawn(app.serve(listener, shutdown));
    let http = reqwest::Client::new();
    let (url, arrivals) = receiver().await;
    let rule = json!({"name": "probe", "when": {"event": {"type": "probe.sent"}},
                      "actions": [{"type": "webhook", "url": url}]});
    let created = http
        .post(format!("{base}/v1/rules"))
        .bearer_auth(&token)
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let post_event = |id: String, ty: &'static str| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            let event = json!([{"specversion": "1.0", "id": id, "source": "/bench", "type": ty, "person": id}]);
            let response = http
                .post(format!("{base}/v1/events"))
                .bearer_auth(&token)
                .header("content-type", "application/cloudevents-batch+json")
                .body(event.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 202);
        }
    };

    println!(
        "embedded default, event to action ({} cores)",
        std::thread::available_parallelism().unwrap()
    );
    let mut readable = Vec::new();
    for i in 0..probes {
        let id = format!("tape-{i}");
        let start = Instant::now();
        post_event(id.clone(), "tape.sent").await;
        loop {
            let body: Value = http
                .get(format!("{base}/v1/persons/{id}/events"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if !body["events"].as_array().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        readable.push(start.elapsed());
    }
    let (base_p50, base_p99) = summary("baseline: POST until readable", readable);

    let mut acted = Vec::new();
    for i in 0..probes {
        let id = format!("probe-{i}");
        let start = Instant::now();
        post_event(id.clone(), "probe.sent").await;
        let arrived = loop {
            if let Some(at) = arrivals.lock().unwrap().get(&id) {
                break *at;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        acted.push(arrived - start);
    }
    let (p50, p99) = summary("POST until the webhook arrives", acted);
    println!(
        "{:<40} p50 x{:.2}  p99 x{:.2}",
        "ratio to the baseline",
        p50.as_secs_f64() / base_p50.as_secs_f64(),
        p99.as_secs_f64() / base_p99.as_secs_f64()
    );
    stop.send(true).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
}
