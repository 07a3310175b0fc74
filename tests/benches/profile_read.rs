//! Benchmark (issue 3b, 3c): reading the profile of a person with 10,000 events, with a
//! 10-attribute view, cold (no snapshot) and repeated (snapshot, then 10 new events).
//!
//! - (b) on the embedded default (redb): always.
//! - (c) on DynamoDB at `AWS_ENDPOINT_URL` (moto or LocalStack), with the number of
//!   DynamoDB requests each read made: when that variable is set.
//!
//! Baseline in the same run: paging through the same 10,000 events as a journey.
//!
//! cargo bench -p cjaas-tests --bench profile_read

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration as Elapsed, Instant};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use cjaas_app::profiles::{Aliases, Profiles, ViewKey};
use cjaas_aws::{DynamoDocumentStore, DynamoTapeStore};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{DocumentStore, TapeStore};
use cjaas_core::tape::{JourneyQuery, TapeEntry, MAX_PAGE};
use cjaas_core::view::{CompiledView, ViewDefinition};

const EVENTS: usize = 10_000;

fn view() -> CompiledView {
    let view: ViewDefinition = serde_json::from_value(json!({"name": "bench", "attributes": [
        {"name": "last_page", "filter": {"type": "page.viewed"}, "field": "/data/path", "aggregation": "latest"},
        {"name": "first_page", "filter": {"type": "page.viewed"}, "field": "/data/path", "aggregation": "first"},
        {"name": "orders", "filter": {"type": "order.paid"}, "aggregation": "count"},
        {"name": "ltv", "filter": {"type": "order.paid"}, "field": "/data/total", "aggregation": "sum"},
        {"name": "avg_order", "filter": {"type": "order.paid"}, "field": "/data/total", "aggregation": "avg"},
        {"name": "biggest", "field": "/data/total", "aggregation": "max"},
        {"name": "pages", "field": "/data/path", "aggregation": "distinct", "limit": 20},
        {"name": "recent", "field": "/data/path", "aggregation": "last_n", "limit": 10},
        {"name": "mobile", "filter": {"where": {"field": "/data/device", "op": "eq", "value": "iPhone"}}, "aggregation": "exists"},
        {"name": "vip", "expression": "ltv > 1000.0"},
    ]}))
    .unwrap();
    view.compile().unwrap()
}

fn entries(
    tenant: &TenantId,
    person: &PersonId,
    from: usize,
    count: usize,
    start: DateTime<Utc>,
) -> Vec<TapeEntry> {
    (from..from + count)
        .map(|i| {
            let time = start + Duration::seconds(i as i64 * 37);
            let id = format!("evt-{i}");
            let (ty, data) = if i % 10 == 0 {
                ("order.paid", json!({"total": (i % 97) as f64 * 3.5, "device": "iPhone"}))
            } else {
                ("page.viewed", json!({"path": format!("/p/{}", i % 40), "referrer": "https://search.example.org/", "device": "Android"}))
            };
            let event = json!({"specversion": "1.0", "id": id, "source": "https://shop.example.com", "type": ty,
                "person": person.as_str(), "time": time, "data": data});
            TapeEntry {
                tenant: tenant.clone(),
                person: person.clone(),
                time,
                received_at: time,
                ty: ty.into(),
                source: "https://shop.example.com".into(),
                id,
                expires_at: None,
                event: event.to_string(),
            }
        })
        .collect()
}

/// Counts every DynamoDB request a client makes.
#[derive(Debug, Default)]
struct RequestCounter(AtomicU64);

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }
    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Counter<'a>(Option<&'a RequestCounter>);

impl Counter<'_> {
    fn now(self) -> u64 {
        self.0.map_or(0, |c| c.0.load(Ordering::Relaxed))
    }
}

struct Sample {
    millis: Vec<f64>,
    requests: Vec<u64>,
    events_read: u64,
}

impl Sample {
    fn print(&self, name: &str) {
        let mut sorted = self.millis.clone();
        sorted.sort_by(f64::total_cmp);
        let pick = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        let requests = self.requests.iter().sum::<u64>() as f64 / self.requests.len() as f64;
        println!(
            "  {name:<38} n={:<4} p50={:>8.2} ms  p99={:>8.2} ms  events read/read={:<6} requests/read={requests:.1}",
            sorted.len(),
            pick(0.5),
            pick(0.99),
            self.events_read
        );
    }
}

async fn measure<F, Fut>(runs: usize, counter: Counter<'_>, mut read: F) -> Sample
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let mut sample = Sample {
        millis: Vec::new(),
        requests: Vec::new(),
        events_read: 0,
    };
    for run in 0..runs {
        let before = counter.now();
        let start = Instant::now();
        sample.events_read = read(run).await;
        sample
            .millis
            .push(Elapsed::as_secs_f64(&start.elapsed()) * 1000.0);
        sample.requests.push(counter.now() - before);
    }
    sample
}

/// How the 10,000-event history gets in before the reads are measured.
enum Load<'a> {
    /// Through the adapter's own appends.
    Append,
    /// Straight into the DynamoDB table with BatchWriteItem, in the adapter's item
    /// shape: moto copies every table on each transaction, so 10,000 transactional
    /// appends would take most of an hour. The reads checked below prove the shape.
    BatchWrite(&'a aws_sdk_dynamodb::Client, &'a str),
}

async fn load(how: &Load<'_>, tape: &Arc<dyn TapeStore>, batch: &[TapeEntry]) {
    match how {
        Load::Append => {
            let outcomes = tape.append_batch(batch).await;
            if let Some(Err(e)) = outcomes.iter().find(|o| o.is_err()) {
                panic!("append failed: {e}");
            }
        }
        Load::BatchWrite(client, table) => batch_write(client, table, batch).await,
    }
}

async fn batch_write(client: &aws_sdk_dynamodb::Client, table: &str, batch: &[TapeEntry]) {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    for chunk in batch.chunks(25) {
        let requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|entry| {
                let mut item: std::collections::HashMap<String, AttributeValue> =
                    serde_dynamo::to_item(entry).unwrap();
                item.insert("pk".into(), AttributeValue::S(entry.partition_key()));
                item.insert("sk".into(), AttributeValue::S(entry.sort_key()));
                let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let mut pending = requests;
        while !pending.is_empty() {
            let output = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .unwrap();
            pending = output
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
        }
    }
    client
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(batch[0].partition_key()))
        .key("sk", AttributeValue::S("M".into()))
        .update_expression("ADD entries :n")
        .expression_attribute_values(":n", AttributeValue::N(batch.len().to_string()))
        .send()
        .await
        .unwrap();
}

async fn run(
    label: &str,
    tape: Arc<dyn TapeStore>,
    docs: Arc<dyn DocumentStore>,
    counter: Counter<'_>,
    runs: (usize, usize),
    how: Load<'_>,
) {
    let tenant = TenantId::parse("bench").unwrap();
    let alice = PersonId::parse("alice").unwrap();
    let start = Utc::now() - Duration::days(10);
    for chunk in entries(&tenant, &alice, 0, EVENTS, start).chunks(500) {
        load(&how, &tape, chunk).await;
    }
    let profiles = Profiles::new(tape.clone(), docs.clone(), Arc::new(Aliases::new(docs)));
    let view = view();
    println!("{label}: profile of a person with {EVENTS} events, 10-attribute view");

    let journey = measure(runs.0, counter, |_| {
        let tape = tape.clone();
        let (tenant, alice) = (tenant.clone(), alice.clone());
        async move {
            let mut query = JourneyQuery {
                limit: MAX_PAGE,
                ..JourneyQuery::default()
            };
            let mut read = 0;
            loop {
                let page = tape.query(&tenant, &alice, &query).await.unwrap();
                read += page.events.len() as u64;
                match page.next {
                    Some(c) => query.after = Some(c.after),
                    None => return read,
                }
            }
        }
    })
    .await;
    assert_eq!(
        journey.events_read, EVENTS as u64,
        "the whole history is readable"
    );
    journey.print("baseline: page through the journey");

    let cold = measure(runs.0, counter, |run| {
        let key = ViewKey {
            id: format!("cold-{run}"),
            version: 1,
        };
        let (profiles, view, tenant, alice) = (&profiles, &view, &tenant, &alice);
        async move {
            profiles
                .build(tenant, alice, view, Some(&key), false)
                .await
                .unwrap()
                .stats
                .events_read
        }
    })
    .await;
    cold.print("cold (no snapshot: full fold, saved)");

    let key = ViewKey {
        id: "warm".into(),
        version: 1,
    };
    profiles
        .build(&tenant, &alice, &view, Some(&key), false)
        .await
        .unwrap();
    let mut read_warm = |_| async {
        let result = profiles.build(&tenant, &alice, &view, Some(&key), false);
        result.await.unwrap().stats.events_read
    };
    let repeated = measure(runs.1, counter, &mut read_warm).await;
    repeated.print("repeated, nothing new");

    let mut next = EVENTS;
    let mut with_new = Sample {
        millis: Vec::new(),
        requests: Vec::new(),
        events_read: 0,
    };
    for _ in 0..runs.1 {
        let batch = entries(&tenant, &alice, next, 10, start);
        next += 10;
        load(&how, &tape, &batch).await;
        let one = measure(1, counter, &mut read_warm).await;
        with_new.millis.extend(one.millis);
        with_new.requests.extend(one.requests);
        with_new.events_read = one.events_read;
    }
    with_new.print("repeated, 10 new events since");
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(cjaas_local::EmbeddedStore::open(dir.path()).unwrap());
    run(
        "(b) embedded default (redb)",
        store.clone(),
        store,
        Counter(None),
        (10, 100),
        Load::Append,
    )
    .await;

    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        println!("(c) skipped: set AWS_ENDPOINT_URL to an emulator (see docs/PERFORMANCE.md)");
        return;
    }
    let stack = cjaas_tests::Stack::create().await;
    let counter = Arc::new(RequestCounter::default());
    let config = aws_sdk_dynamodb::config::Builder::from(&stack.sdk)
        .interceptor(SharedCounter(counter.clone()))
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let tape = Arc::new(DynamoTapeStore::new(
        client.clone(),
        stack.tape_table.clone(),
    ));
    let docs = Arc::new(DynamoDocumentStore::new(
        client.clone(),
        stack.config_table.clone(),
    ));
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    run(
        &format!("(c) DynamoDB at {endpoint}"),
        tape,
        docs,
        Counter(Some(&counter)),
        (3, 20),
        Load::BatchWrite(&client, &stack.tape_table),
    )
    .await;
}

/// The counter, shared between the client and the benchmark.
#[derive(Debug)]
struct SharedCounter(Arc<RequestCounter>);

impl Intercept for SharedCounter {
    fn name(&self) -> &'static str {
        "SharedRequestCounter"
    }
    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.read_before_execution(context, cfg)
    }
}
