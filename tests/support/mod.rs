//! Test support: real AWS adapters against the endpoint in `AWS_ENDPOINT_URL` (moto,
//! started by `scripts/test`, or LocalStack), fresh uniquely named resources per test,
//! the Lambda payloads in `events/`, and a Kinesis poller that stands in for the event
//! source mapping.

use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::SdkConfig;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};
use axum::Router;
use base64::Engine;
use http::StatusCode;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

use cjaas_app::http::{with_edge_headers, with_problem_fallback};
use cjaas_app::jobs::{Family, Jobs};
use cjaas_app::writer::TapeWriter;
use cjaas_aws::lambda::{
    handle_authorizer, handle_kinesis, handle_tenant_command, with_authorizer_principal,
};
use cjaas_aws::settings::Settings;
use cjaas_aws::wiring::{self, AwsAdapters, AwsWiring};
use cjaas_core::auth::SigningKeys;
pub use cjaas_core::target::TargetPolicy;

pub mod gateway;
pub mod template;

/// The SDK configuration for the emulator, as the Lambda binaries build it. Tests need `AWS_ENDPOINT_URL`: they must
/// never reach a real account by accident.
pub async fn sdk() -> SdkConfig {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL is not set: run the tests with scripts/test, which starts an emulator"
    );
    // The functions' own configuration (environment credentials and region), with one
    // allowance: the emulator serves every parallel test from one thread, so a response
    // may pause for longer than the SDK's 5 s default grace before a stall is an error.
    cjaas_aws::settings::sdk_config()
        .await
        .to_builder()
        .stalled_stream_protection(
            StalledStreamProtectionConfig::enabled()
                .grace_period(EMULATOR_STALL_GRACE)
                .build(),
        )
        .build()
}

/// How long an emulator response may pause before the SDK gives up on it.
const EMULATOR_STALL_GRACE: Duration = Duration::from_secs(60);

/// How often the stand-in poller delivers a batch that reported item failures.
const POLLER_ATTEMPTS: usize = 3;

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A payload from `events/`.
pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixtures are JSON")
}

/// One isolated CJaaS deployment on the emulator: its own tables, stream and bucket.
pub struct Stack {
    pub sdk: SdkConfig,
    pub tape_table: String,
    pub config_table: String,
    pub stream: String,
    pub bucket: String,
    pub archive_bucket: String,
    /// The CJaaS EventBridge bus.
    pub bus: String,
    pub keys: SigningKeys,
    /// The targets rules may name and actions may call: public only, as deployed,
    /// unless a test with receivers on loopback allows private ones.
    pub targets: TargetPolicy,
}

impl Stack {
    pub async fn create() -> Self {
        let sdk = sdk().await;
        let stack = Self {
            tape_table: unique("tape"),
            config_table: unique("config"),
            stream: unique("events"),
            bucket: unique("dead-letters"),
            archive_bucket: unique("archive"),
            bus: unique("cjaas-bus"),
            keys: SigningKeys::generate("test-1"),
            targets: TargetPolicy::public_only(),
            sdk,
        };
        create_table(&stack.sdk, &stack.tape_table, true).await;
        create_table(&stack.sdk, &stack.config_table, false).await;
        aws_sdk_eventbridge::Client::new(&stack.sdk)
            .create_event_bus()
            .name(&stack.bus)
            .send()
            .await
            .expect("create event bus");
        create_stream(&stack.sdk, &stack.stream).await;
        for bucket in [&stack.bucket, &stack.archive_bucket] {
            cjaas_aws::settings::s3_client(&stack.sdk)
                .create_bucket()
                .bucket(bucket)
                .send()
                .await
                .expect("create bucket");
        }
        stack
    }

    /// Another Tape table, e.g. to rebuild a Tape from the stream.
    pub async fn create_tape_table(&self, name: &str) {
        create_table(&self.sdk, name, true).await;
    }

    /// Every resource of this stack, as a function with all of them would read them.
    pub fn settings(&self) -> Settings {
        Settings {
            tape_table: Some(self.tape_table.clone()),
            config_table: Some(self.config_table.clone()),
            event_stream: Some(self.stream.clone()),
            dead_letter_bucket: Some(self.bucket.clone()),
            archive_bucket: Some(self.archive_bucket.clone()),
            event_bus: Some(self.bus.clone()),
            signing_keys: Some(self.keys.clone()),
            targets: self.targets.clone(),
            tombstone_ttl: cjaas_core::erasure::DEFAULT_TOMBSTONE_TTL,
        }
    }

    /// The object graph on this stack's resources, as every function builds it.
    pub fn wiring(&self) -> AwsWiring {
        wiring::new(&self.sdk, self.settings())
    }

    pub fn writer(&self) -> TapeWriter {
        self.writer_on(&self.tape_table)
    }

    pub fn writer_on(&self, tape_table: &str) -> TapeWriter {
        let mut settings = self.settings();
        settings.tape_table = Some(tape_table.to_owned());
        wiring::new(&self.sdk, settings)
            .tape_writer()
            .expect("a writer")
    }

    /// The jobs, as every event function wires them.
    pub fn jobs(&self) -> Jobs<AwsAdapters> {
        self.wiring().jobs()
    }

    /// Runs the `tenant-admin` handler on an operator command.
    pub async fn command(&self, command: Value) -> Result<Value, String> {
        let command = serde_json::from_value(command).expect("an operator command");
        handle_tenant_command(&self.jobs(), LambdaEvent::new(command, Context::default()))
            .await
            .map_err(|e| format!("{}: {}", e.code, e.detail))
    }

    /// Runs the `archiver` handler on a Lambda Kinesis batch; returns the sequence
    /// numbers handed back for retry.
    pub async fn archive(&self, batch: Value) -> Vec<String> {
        let archiver = self.wiring().archiver().expect("an archiver");
        let event: KinesisEvent = serde_json::from_value(batch).expect("a Kinesis event");
        let response = cjaas_aws::lambda::handle_archive(
            &archiver,
            LambdaEvent::new(event, Context::default()),
        )
        .await
        .expect("the archiver answers");
        response
            .batch_item_failures
            .into_iter()
            .filter_map(|f| f.item_identifier)
            .collect()
    }

    /// Runs the `orchestrator` handler on a Lambda Kinesis batch or its schedule.
    pub async fn orchestrate(&self, payload: Value) -> Value {
        let function = wiring::orchestrator_function(&self.wiring()).expect("the function");
        cjaas_aws::lambda::handle_orchestration(
            &function,
            &self.jobs(),
            LambdaEvent::new(payload, Context::default()),
        )
        .await
        .expect("the orchestrator answers")
    }

    /// Runs an event function's handler (`actions`, `maintenance`, `analytics`: the
    /// same one, each with its own family of triggers) on its payload.
    pub async fn event(
        &self,
        family: Family<AwsAdapters>,
        payload: Value,
    ) -> Result<Value, String> {
        let event = LambdaEvent::new(payload, Context::default());
        cjaas_aws::lambda::handle_event(&self.jobs(), &family, event)
            .await
            .map_err(|e| format!("{}: {}", e.code, e.detail))
    }

    /// Runs the `actions` handler on an EventBridge payload.
    pub async fn act(&self, payload: Value) -> Result<Value, String> {
        self.event(Family::actions(), payload).await
    }

    /// Runs the `maintenance` handler on an EventBridge payload.
    pub async fn maintain(&self, payload: Value) -> Result<Value, String> {
        self.event(Family::maintenance(), payload).await
    }

    /// Runs the `backtests` handler on an EventBridge payload, on the resources the
    /// template gives the function.
    pub async fn backtest(&self, payload: Value) -> Result<Value, String> {
        let jobs = self.wiring_of("BacktestsFunction").jobs();
        let event = LambdaEvent::new(payload, Context::default());
        cjaas_aws::lambda::handle_event(&jobs, &Family::backtests(), event)
            .await
            .map_err(|e| format!("{}: {}", e.code, e.detail))
    }

    /// Every object of a bucket: key → bytes (gzip objects decompressed to text).
    pub async fn objects(&self, bucket: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
        let objects =
            cjaas_aws::S3Objects::new(cjaas_aws::settings::s3_client(&self.sdk), bucket.to_owned());
        let mut all = std::collections::BTreeMap::new();
        for key in objects.list("").await.expect("list objects") {
            let bytes = objects
                .get(&key)
                .await
                .expect("get object")
                .unwrap_or_default();
            all.insert(key, bytes);
        }
        all
    }

    /// Every item of a table, as JSON text (for "nothing of X is left" checks).
    pub async fn dump_table(&self, table: &str) -> String {
        let items: Vec<_> = aws_sdk_dynamodb::Client::new(&self.sdk)
            .scan()
            .table_name(table)
            .into_paginator()
            .items()
            .send()
            .collect::<Vec<_>>()
            .await;
        let items: Vec<Value> = items
            .into_iter()
            .map(|item| serde_dynamo::from_item(item.expect("scan")).expect("an item"))
            .collect();
        Value::Array(items).to_string()
    }

    /// Runs the `analytics` Lambda handler on an EventBridge payload.
    pub async fn run_analytics(&self, payload: Value) -> Result<Value, String> {
        self.event(Family::analytics(), payload).await
    }

    /// Every API route, as the Lambdas mount them behind API Gateway.
    pub fn api(&self) -> Router {
        let behind_authorizer = self.wiring().api_router().expect("the API");
        with_edge_headers(with_problem_fallback(
            self.ingest_api()
                .merge(cjaas_aws::lambda::console_router())
                .merge(with_authorizer_principal(behind_authorizer)),
        ))
    }

    /// The `ingest` function's routes (`POST /v1/events`, the tracking API and the
    /// tag), with the resources the template gives the function.
    pub fn ingest_api(&self) -> Router {
        self.wiring_of("IngestFunction")
            .ingest_function_router(with_authorizer_principal)
            .expect("the ingest routes")
    }

    /// Creates a tenant through the `tenant-admin` handler; returns its admin API key.
    pub async fn create_tenant(&self) -> (String, String) {
        let tenant = unique("t");
        let mut payload = fixture("tenant-admin-create-tenant.json");
        payload["tenant"] = json!(tenant);
        let key = self.command(payload).await.expect("tenant created");
        (tenant, key["token"].as_str().expect("a token").to_owned())
    }

    /// Creates an API key with `scopes` through `POST /v1/keys`; returns its token.
    pub async fn create_key(&self, admin_token: &str, scopes: &[&str]) -> String {
        let body = json!({ "scopes": scopes }).to_string();
        let create = request(
            "admin-create-key.json",
            "POST",
            "/v1/keys",
            json!({}),
            Some(body),
        );
        let (status, _, key) = self.call(admin_token, create).await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        key["token"].as_str().expect("a token").to_owned()
    }

    /// Runs the authorizer Lambda on a real authorizer payload; returns its context.
    pub async fn authorize(&self, token: &str) -> Value {
        let mut payload = fixture("authorizer-request.json");
        payload["headers"]["authorization"] = json!(format!("Bearer {token}"));
        payload["identitySource"] = json!([format!("Bearer {token}")]);
        let auth = self.wiring().authenticator().expect("an authenticator");
        let event = serde_json::from_value(payload).expect("an authorizer request");
        let response = handle_authorizer(&auth, LambdaEvent::new(event, Context::default()))
            .await
            .expect("the authorizer answers");
        assert!(response.is_authorized, "verdicts travel in the context");
        response.context
    }

    /// Sends an API Gateway request through the authorizer and then the API.
    pub async fn call(&self, token: &str, request: Value) -> (StatusCode, http::HeaderMap, Value) {
        let context = self.authorize(token).await;
        call_with_context(&self.api(), request, context).await
    }

    /// Reads every record on the stream so far as one Lambda Kinesis batch, and runs
    /// the Tape writer on it, as the event source mapping would: a batch that reports
    /// item failures is delivered again (the writer is exactly-once), and what still
    /// fails after the last attempt is returned.
    pub async fn pump(&self) -> Vec<String> {
        let writer = self.writer();
        let batch = read_stream(&self.sdk, &self.stream).await;
        let mut attempt = 1;
        loop {
            let failed = self.deliver(&writer, batch.clone()).await;
            if failed.is_empty() || attempt == POLLER_ATTEMPTS {
                return failed;
            }
            tracing::warn!(
                attempt,
                failed = failed.len(),
                "the poller delivers the batch again"
            );
            attempt += 1;
        }
    }

    pub async fn deliver(&self, writer: &TapeWriter, batch: Value) -> Vec<String> {
        let event: KinesisEvent = serde_json::from_value(batch).expect("a Kinesis event");
        let response = handle_kinesis(writer, LambdaEvent::new(event, Context::default()))
            .await
            .expect("the writer answers");
        response
            .batch_item_failures
            .into_iter()
            .filter_map(|f| f.item_identifier)
            .collect()
    }

    /// Objects under `prefix` in the dead-letter bucket, parsed.
    pub async fn dead_letters(&self) -> Vec<Value> {
        let s3 = cjaas_aws::settings::s3_client(&self.sdk);
        let listing = s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix("dead-letter/")
            .send()
            .await
            .expect("list dead letters");
        let mut letters = Vec::new();
        for object in listing.contents() {
            let body = s3
                .get_object()
                .bucket(&self.bucket)
                .key(object.key().unwrap())
                .send()
                .await
                .expect("get dead letter")
                .body
                .collect()
                .await
                .expect("read dead letter")
                .into_bytes();
            letters.push(serde_json::from_slice(&body).expect("dead letters are JSON"));
        }
        letters
    }
}

/// Builds an API Gateway v2 request from a fixture with this method, path and body.
pub fn request(
    fixture_name: &str,
    method: &str,
    path_and_query: &str,
    headers: Value,
    body: Option<String>,
) -> Value {
    let mut payload = fixture(fixture_name);
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    payload["rawPath"] = json!(path);
    payload["rawQueryString"] = json!(query);
    payload["requestContext"]["http"]["method"] = json!(method);
    payload["requestContext"]["http"]["path"] = json!(path);
    payload
        .as_object_mut()
        .unwrap()
        .remove("queryStringParameters");
    payload.as_object_mut().unwrap().remove("pathParameters");
    for (name, value) in headers.as_object().expect("headers object") {
        payload["headers"][name] = value.clone();
    }
    match body {
        Some(body) => payload["body"] = json!(body),
        None => {
            payload.as_object_mut().unwrap().remove("body");
        }
    }
    payload
}

/// An API Gateway v2 request with a JSON body (or none), from the admin fixture.
pub fn call(method: &str, path: &str, body: Option<Value>) -> Value {
    let headers = json!({"content-type": "application/json"});
    request(
        "admin-create-key.json",
        method,
        path,
        headers,
        body.map(|b| b.to_string()),
    )
}

/// `POST /v1/events` with a batch of events.
pub fn post_batch(events: &[Value]) -> Value {
    request(
        "ingest-batch.json",
        "POST",
        "/v1/events",
        json!({"content-type": "application/cloudevents-batch+json"}),
        Some(Value::Array(events.to_vec()).to_string()),
    )
}

/// `GET /v1/persons/{person}/events?{query}`.
pub fn journey(person: &str, query: &str) -> Value {
    let person = person.replace('@', "%40");
    request(
        "query-journey.json",
        "GET",
        &format!("/v1/persons/{person}/events?{query}"),
        json!({}),
        None,
    )
}

/// The ids of the events in a journey response, in order.
pub fn ids(body: &Value) -> Vec<String> {
    body["events"]
        .as_array()
        .expect("a journey")
        .iter()
        .map(|e| e["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// Runs `router` on an API Gateway payload with the given authorizer context.
pub async fn call_with_context(
    router: &Router,
    mut payload: Value,
    context: Value,
) -> (StatusCode, http::HeaderMap, Value) {
    payload["requestContext"]["authorizer"] = json!({ "lambda": context });
    let event = serde_json::from_str(&payload.to_string()).expect("an API Gateway request");
    let event = LambdaEvent::new(event, Context::default());
    let answer = cjaas_aws::lambda::respond(router, event)
        .await
        .expect("the function answers");
    let response = gateway::from_gateway(&serde_json::to_value(answer).unwrap());
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON responses")
    };
    (status, headers, body)
}

/// A table keyed `pk`/`sk`; the Tape also has the sparse `changes` index (see the
/// SAM template).
async fn create_table(sdk: &SdkConfig, name: &str, changes_index: bool) {
    let attribute = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    let mut request = aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range));
    if changes_index {
        let index = GlobalSecondaryIndex::builder()
            .index_name(cjaas_aws::dynamo_tape::CHANGES_INDEX)
            .key_schema(key("ct", KeyType::Hash))
            .key_schema(key("cm", KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .unwrap();
        request = request
            .attribute_definitions(attribute("ct"))
            .attribute_definitions(attribute("cm"))
            .global_secondary_indexes(index);
    }
    request.send().await.expect("create table");
}

async fn create_stream(sdk: &SdkConfig, name: &str) {
    let kinesis = aws_sdk_kinesis::Client::new(sdk);
    kinesis
        .create_stream()
        .stream_name(name)
        .shard_count(1)
        .send()
        .await
        .expect("create stream");
    for _ in 0..100 {
        let summary = kinesis
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .unwrap();
        if summary
            .stream_description_summary()
            .map(|s| s.stream_status())
            == Some(&StreamStatus::Active)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stream {name} never became active");
}

/// Every record on the stream, as the JSON of a Lambda Kinesis event.
pub async fn read_stream(sdk: &SdkConfig, stream: &str) -> Value {
    let kinesis = aws_sdk_kinesis::Client::new(sdk);
    let shards = kinesis
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .expect("list shards");
    let mut records = Vec::new();
    for shard in shards.shards() {
        let mut iterator = kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("shard iterator")
            .shard_iterator
            .expect("an iterator");
        loop {
            let output = kinesis
                .get_records()
                .shard_iterator(&iterator)
                .send()
                .await
                .expect("get records");
            for record in output.records() {
                records.push(json!({
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": record.partition_key(),
                        "sequenceNumber": record.sequence_number(),
                        "data": base64::engine::general_purpose::STANDARD.encode(record.data().as_ref()),
                        "approximateArrivalTimestamp": record.approximate_arrival_timestamp().map_or(0.0, |t| t.as_secs_f64()),
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": format!("{}:{}", shard.shard_id(), record.sequence_number()),
                    "eventName": "aws:kinesis:record",
                    "invokeIdentityArn": "arn:aws:iam::123456789012:role/tape-writer",
                    "awsRegion": "us-east-1",
                    "eventSourceARN": format!("arn:aws:kinesis:us-east-1:123456789012:stream/{stream}"),
                }));
            }
            match output.next_shard_iterator() {
                Some(next) if !output.records().is_empty() => iterator = next.to_owned(),
                _ => break,
            }
        }
    }
    json!({ "Records": records })
}

/// Puts a record straight on the stream, as a producer without the ingest API would.
pub async fn put_direct(sdk: &SdkConfig, stream: &str, data: &[u8]) {
    aws_sdk_kinesis::Client::new(sdk)
        .put_record()
        .stream_name(stream)
        .partition_key("direct")
        .data(aws_sdk_kinesis::primitives::Blob::new(data.to_vec()))
        .send()
        .await
        .expect("put record");
}

/// An SQS queue that a rule on `bus` fills with the events matching `pattern`, as an
/// operator or a tenant would wire it; returns the queue URL.
pub async fn rule_to_queue(sdk: &SdkConfig, bus: &str, pattern: Value) -> String {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name(unique("queue"))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("a queue URL");
    let arn_name = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(arn_name.clone())
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .expect("attributes")[&arn_name]
        .clone();
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let rule = unique("rule");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .expect("put rule");
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("queue")
        .arn(arn)
        .build()
        .expect("a target");
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .expect("put targets");
    queue_url
}

/// Up to `want` messages from the queue (waiting up to about 20 s), as JSON.
pub async fn receive(sdk: &SdkConfig, queue_url: &str, want: usize) -> Vec<Value> {
    receive_within(sdk, queue_url, want, 20).await
}

/// Whatever arrives on the queue within about 3 s: for checking that nothing does.
pub async fn receive_briefly(sdk: &SdkConfig, queue_url: &str) -> Vec<Value> {
    receive_within(sdk, queue_url, 1, 3).await
}

async fn receive_within(sdk: &SdkConfig, queue_url: &str, want: usize, seconds: u32) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut messages = Vec::new();
    for _ in 0..seconds {
        let output = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for message in output.messages() {
            messages.push(serde_json::from_str(message.body().unwrap_or("null")).expect("JSON"));
        }
        if messages.len() >= want {
            break;
        }
    }
    messages
}
