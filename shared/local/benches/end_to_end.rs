//! Benchmark (c): the embedded default end to end, over real HTTP on loopback: from
//! `POST /v1/events` until the event is readable on the journey query.
//!
//! Baseline, measured in the same run: a `GET /healthz` round trip (the HTTP floor).
//!
//! cargo bench -p cjaas-local --bench end_to_end
//! (CJAAS_BENCH_EVENTS and CJAAS_BENCH_PROBES scale it; defaults 20000 and 300.)

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::watch;

use cjaas_local::server::{bind, LocalApp};
use cjaas_local::EmbeddedStore;

const BATCH: usize = 100;
const CLIENTS: usize = 4;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event(id: &str, person: &str) -> Value {
    json!({
        "specversion": "1.0", "id": id, "source": "https://shop.example.com/web",
        "type": "com.example.page.viewed", "person": person,
        "data": {"path": "/pricing", "referrer": "https://search.example.org/", "device": "mobile", "padding": "x".repeat(700)}
    })
}

/// A field of /proc/self/status in MiB (`VmHWM`: peak resident memory), if readable.
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!(
        "{name:<34} n={:<6} p50={:>9.3?} p99={:>9.3?}",
        samples.len(),
        p50,
        p99
    );
    (p50, p99)
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn post(&self, events: &[Value]) {
        let response = self
            .http
            .post(format!("{}/v1/events", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/cloudevents-batch+json")
            .body(serde_json::to_vec(events).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }

    async fn journey_len(&self, person: &str) -> usize {
        let body: Value = self
            .http
            .get(format!(
                "{}/v1/persons/{person}/events?limit=1000",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["events"].as_array().unwrap().len()
    }
}

#[tokio::main]
async fn main() {
    let total = env_or("CJAAS_BENCH_EVENTS", 20_000);
    let probes = env_or("CJAAS_BENCH_PROBES", 300);
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let app = LocalApp::new(store.clone()).unwrap();
    app.ensure_dev_tenant().await.unwrap();
    let token = app.dev_token();
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, shutdown) = watch::channel(false);
    let server = tokio::spawn(app.serve(listener, shutdown));
    let client = Client {
        http: reqwest::Client::new(),
        base,
        token,
    };

    println!(
        "embedded default, end to end over loopback HTTP ({} cores)",
        std::thread::available_parallelism().unwrap()
    );
    let mut floor = Vec::new();
    for _ in 0..probes {
        let start = Instant::now();
        let response = client
            .http
            .get(format!("{}/healthz", client.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        floor.push(start.elapsed());
    }
    let (floor_p50, floor_p99) = summary("baseline: GET /healthz round trip", floor);

    let mut latencies = Vec::new();
    for i in 0..probes {
        let person = format!("probe-{i}");
        let start = Instant::now();
        client.post(&[event(&format!("probe-{i}"), &person)]).await;
        while client.journey_len(&person).await == 0 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        latencies.push(start.elapsed());
    }
    let (p50, p99) = summary("POST until readable (1 event)", latencies);
    println!(
        "{:<34} p50 x{:.1}  p99 x{:.1}",
        "ratio to the HTTP floor",
        p50.as_secs_f64() / floor_p50.as_secs_f64(),
        p99.as_secs_f64() / floor_p99.as_secs_f64()
    );

    let before_load = status_mib("VmHWM:");
    let start = Instant::now();
    let per_client = total / CLIENTS;
    let mut posting = Vec::new();
    for c in 0..CLIENTS {
        let client = Client {
            http: client.http.clone(),
            base: client.base.clone(),
            token: client.token.clone(),
        };
        posting.push(tokio::spawn(async move {
            for b in 0..per_client / BATCH {
                let events: Vec<Value> = (0..BATCH)
                    .map(|i| {
                        event(
                            &format!("c{c}-b{b}-{i}"),
                            &format!("person-{}", (b * BATCH + i) % 1000),
                        )
                    })
                    .collect();
                client.post(&events).await;
            }
        }));
    }
    for task in posting {
        task.await.unwrap();
    }
    let accepted = start.elapsed();
    while !store.read_stream(1).await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let readable = start.elapsed();
    let sent = per_client / BATCH * BATCH * CLIENTS;
    let written: usize = {
        let mut sum = 0;
        for p in 0..1000 {
            sum += client.journey_len(&format!("person-{p}")).await;
        }
        sum
    };
    assert_eq!(written, sent, "every event is on the Tape");
    println!(
        "{:<34} {sent} events: accepted in {:.2?} ({:.0}/s), readable in {:.2?} ({:.0} events/s)",
        "throughput (4 clients, batches of 100)",
        accepted,
        sent as f64 / accepted.as_secs_f64(),
        readable,
        sent as f64 / readable.as_secs_f64()
    );
    // Server and clients share this process, so this bounds the server's own peak.
    println!(
        "{:<34} {:.1} MiB before the load, {:.1} MiB after (VmHWM, server and clients)",
        "peak resident memory",
        before_load.unwrap_or(f64::NAN),
        status_mib("VmHWM:").unwrap_or(f64::NAN)
    );
    let _ = stop.send(true);
    let _ = server.await;
}
