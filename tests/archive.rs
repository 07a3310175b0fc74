//! Archive, replay, retention and erasure on the emulator, through the real handlers:
//! the archiver on Kinesis batches, the tenant-admin commands, the maintenance
//! function on EventBridge payloads, and the API.

use chrono::{DateTime, Duration, DurationRound, Utc};
use cjaas_core::archive;
use cjaas_tests::{
    call, fixture, ids, journey, post_batch, put_direct, read_stream, receive, rule_to_queue, Stack,
};
use http::StatusCode;
use serde_json::{json, Value};

fn event(id: &str, person: &str, time: DateTime<Utc>) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": "page.viewed",
           "person": person, "time": time, "data": {"path": "/pricing"}})
}

fn hour() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::hours(1)).unwrap()
}

/// Data objects under the tenant, decoded: key → event ids.
async fn archived(stack: &Stack, tenant: &str) -> Vec<(String, Vec<String>)> {
    stack
        .objects(&stack.archive_bucket)
        .await
        .into_iter()
        .filter(|(key, _)| key.starts_with(&format!("archive/tenant={tenant}/")))
        .map(|(key, bytes)| {
            let ids = archive::decode(&bytes)
                .unwrap()
                .into_iter()
                .map(|e| e.id)
                .collect();
            (key, ids)
        })
        .collect()
}

#[tokio::test]
async fn the_archive_is_partitioned_idempotent_and_replays_without_duplicates() {
    let stack = Stack::create().await;
    let (tenant, token) = stack.create_tenant().await;
    let (h, h2) = (hour() - Duration::hours(3), hour() - Duration::hours(2));
    let events = [
        event("a", "ana", h),
        event("b", "ana", h + Duration::minutes(59)),
        event("c", "ben", h2),
    ];
    assert_eq!(
        stack.call(&token, post_batch(&events)).await.0,
        StatusCode::ACCEPTED
    );
    // A producer's retry: the stream carries "a" twice.
    assert_eq!(
        stack.call(&token, post_batch(&events[..1])).await.0,
        StatusCode::ACCEPTED
    );
    let batch = read_stream(&stack.sdk, &stack.stream).await;
    assert!(stack
        .deliver(&stack.writer(), batch.clone())
        .await
        .is_empty());
    assert!(stack.archive(batch.clone()).await.is_empty());

    let objects = archived(&stack, &tenant).await;
    let date = h.format("date=%Y-%m-%d/hour=%H").to_string();
    let date2 = h2.format("date=%Y-%m-%d/hour=%H").to_string();
    assert_eq!(objects.len(), 2, "{objects:?}");
    assert!(
        objects[0].0.contains(&date) && objects[0].0.ends_with(".json.gz"),
        "{}",
        objects[0].0
    );
    assert!(objects[1].0.contains(&date2));
    assert_eq!(
        objects[0].1,
        ["a", "b", "a"],
        "the archive keeps the stream, resends included"
    );
    let first =
        &archive::decode(&stack.objects(&stack.archive_bucket).await[&objects[0].0]).unwrap()[0];
    assert_eq!(
        (
            first.tenant.as_str(),
            first.person.as_str(),
            first.ty.as_str()
        ),
        (tenant.as_str(), "ana", "page.viewed")
    );
    let cloud_event: Value = serde_json::from_str(first.event.get()).unwrap();
    assert_eq!(cloud_event["data"]["path"], "/pricing");

    // A retried batch rewrites the same objects with the same bytes.
    let before = stack.objects(&stack.archive_bucket).await;
    assert!(stack.archive(batch).await.is_empty());
    assert_eq!(stack.objects(&stack.archive_bucket).await, before);

    // Replay the first hour: the Tape already holds it, so nothing changes.
    let mut replay = fixture("tenant-admin-replay.json");
    replay["tenant"] = json!(tenant);
    replay["from"] = json!(h);
    replay["to"] = json!(h + Duration::hours(1));
    let report = stack.command(replay.clone()).await.unwrap();
    assert_eq!(report, json!({"objects_read": 1, "events_replayed": 3}));
    assert!(stack.pump().await.is_empty());
    let (_, _, body) = stack.call(&token, journey("ana", "")).await;
    assert_eq!(ids(&body), ["a", "b"]);

    // Rebuild a Tape from the whole stream, replays included: each event once.
    let rebuilt = cjaas_tests::unique("tape");
    stack.create_tape_table(&rebuilt).await;
    let batch = read_stream(&stack.sdk, &stack.stream).await;
    assert_eq!(batch["Records"].as_array().unwrap().len(), 7);
    assert!(stack
        .deliver(&stack.writer_on(&rebuilt), batch)
        .await
        .is_empty());
    let items = stack.dump_table(&rebuilt).await;
    let entries = serde_json::from_str::<Vec<Value>>(&items)
        .unwrap()
        .iter()
        .filter(|i| i["sk"].as_str().unwrap().starts_with("E#"))
        .count();
    assert_eq!(entries, 3);

    replay["from"] = json!(h + Duration::hours(1));
    replay["to"] = json!(h);
    assert!(stack
        .command(replay)
        .await
        .unwrap_err()
        .starts_with("invalid_request"));
}

#[tokio::test]
async fn retention_sets_ttl_hides_expired_events_and_sweeps_the_archive() {
    let stack = Stack::create().await;
    let (tenant, token) = stack.create_tenant().await;
    let mut retention = fixture("tenant-admin-set-retention.json");
    retention["tenant"] = json!(tenant);
    retention["days"] = json!(30);
    assert_eq!(
        stack.command(retention.clone()).await.unwrap()["retention_days"],
        30
    );
    retention["days"] = json!(0);
    assert!(stack
        .command(retention)
        .await
        .unwrap_err()
        .starts_with("invalid_request"));

    let now = Utc::now();
    let events = [
        event("old", "ana", now - Duration::days(40)),
        event("new", "ana", now - Duration::hours(1)),
    ];
    assert_eq!(
        stack.call(&token, post_batch(&events)).await.0,
        StatusCode::ACCEPTED
    );
    let batch = read_stream(&stack.sdk, &stack.stream).await;
    assert!(stack
        .deliver(&stack.writer(), batch.clone())
        .await
        .is_empty());
    assert!(stack.archive(batch).await.is_empty());

    // Every entry, dedup mark and step (the entry's analytics projection) carries its
    // TTL: event time + 30 days.
    let items: Vec<Value> =
        serde_json::from_str(&stack.dump_table(&stack.tape_table).await).unwrap();
    let ttl = |t: DateTime<Utc>| (t + Duration::days(30)).timestamp();
    let expiring: Vec<i64> = items
        .iter()
        .filter_map(|i| i["expires_at"].as_i64())
        .collect();
    assert_eq!(
        expiring.len(),
        6,
        "two entries, two marks, two steps: {items:?}"
    );
    assert!(
        expiring.contains(&ttl(now - Duration::days(40)))
            && expiring.contains(&ttl(now - Duration::hours(1)))
    );

    // TTL deletion lags; reads leave the expired entry out anyway.
    let (_, _, body) = stack.call(&token, journey("ana", "")).await;
    assert_eq!(ids(&body), ["new"]);

    // The daily sweep deletes archive partitions past the retention.
    assert_eq!(archived(&stack, &tenant).await.len(), 2);
    let mut schedule = fixture("maintenance-schedule.json");
    schedule["time"] = json!(now);
    let swept = stack.maintain(schedule).await.unwrap();
    assert_eq!(
        swept["archive_objects_deleted"], 2,
        "the old data object and its person list"
    );
    let left = archived(&stack, &tenant).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1, ["new"]);
}

#[tokio::test]
async fn erasure_removes_the_person_and_aliases_from_every_store() {
    let stack = Stack::create().await;
    let (tenant, token) = stack.create_tenant().await;
    let (_, other) = stack.create_tenant().await;
    let reader = stack.create_key(&token, &["tape:read"]).await;
    let (subject, alias, bystander) = ("erase-me-7f3a", "cookie-erase-me-9b2c", "stays-4d1e");
    let now = Utc::now();
    let events = [
        event("s1", subject, now - Duration::hours(2)),
        event("s2", alias, now - Duration::hours(1)),
        event("b1", bystander, now - Duration::hours(1)),
    ];
    assert_eq!(
        stack.call(&token, post_batch(&events)).await.0,
        StatusCode::ACCEPTED
    );
    // A record that can never be written, naming the subject: a dead letter.
    let broken =
        json!({"credential": token, "event": {"id": "x", "source": "/web", "person": subject}});
    put_direct(&stack.sdk, &stack.stream, broken.to_string().as_bytes()).await;
    let batch = read_stream(&stack.sdk, &stack.stream).await;
    assert!(stack
        .deliver(&stack.writer(), batch.clone())
        .await
        .is_empty());
    assert!(stack.archive(batch).await.is_empty());
    assert_eq!(stack.dead_letters().await.len(), 1);
    let link = json!({"aliases": [alias]});
    let (status, _, _) = stack
        .call(
            &token,
            call(
                "POST",
                &format!("/v1/persons/{subject}/aliases"),
                Some(link),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let view = json!({"name": "v", "attributes": [{"name": "n", "aggregation": "count"}]});
    let (_, _, view) = stack
        .call(&token, call("POST", "/v1/views", Some(view)))
        .await;
    let profile = format!(
        "/v1/persons/{subject}/profile?view={}",
        view["id"].as_str().unwrap()
    );
    let (_, _, profile) = stack.call(&token, call("GET", &profile, None)).await;
    assert_eq!(profile["profile"]["attributes"]["n"], 2, "{profile}");
    let mut schedule = fixture("analytics-schedule.json");
    schedule["time"] = json!(now);
    stack.run_analytics(schedule).await.unwrap();
    let everything = |tables: &[String]| {
        let stack = &stack;
        let tables = tables.to_vec();
        async move {
            let mut text = String::new();
            for table in tables {
                text += &stack.dump_table(&table).await;
            }
            for bucket in [&stack.bucket, &stack.archive_bucket] {
                for (key, bytes) in stack.objects(bucket).await {
                    text += &key;
                    text += &match archive::decode(&bytes) {
                        Ok(events) => events
                            .iter()
                            .map(|e| serde_json::to_string(e).unwrap())
                            .collect(),
                        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
                    };
                    // Dead letters keep the record base64-encoded.
                    if let Ok(letter) = serde_json::from_slice::<Value>(&bytes) {
                        if let Some(payload) = letter["payload_base64"].as_str() {
                            use base64::Engine;
                            let raw = base64::engine::general_purpose::STANDARD
                                .decode(payload)
                                .unwrap();
                            text += &String::from_utf8_lossy(&raw);
                        }
                    }
                }
            }
            text
        }
    };
    let tables = [stack.tape_table.clone(), stack.config_table.clone()];
    let before = everything(&tables).await;
    assert!(before.contains(subject) && before.contains(alias) && before.contains(bystander));

    // Only an admin of the tenant can ask; the job is tenant-scoped.
    let path = format!("/v1/persons/{subject}");
    assert_eq!(
        stack.call(&reader, call("DELETE", &path, None)).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, headers, job) = stack.call(&token, call("DELETE", &path, None)).await;
    assert_eq!(
        (status, job["status"].as_str()),
        (StatusCode::ACCEPTED, Some("pending")),
        "{job}"
    );
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("/v1/erasures/{id}"));
    assert!(
        !job.to_string().contains(subject),
        "the job never shows the person"
    );
    let (status, _, _) = stack
        .call(&other, call("GET", &format!("/v1/erasures/{id}"), None))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The worker gets the request from the bus.
    let mut requested = fixture("maintenance-erasure-requested.json");
    requested["detail"] = json!({"tenant": tenant, "job": id});
    let done = stack.maintain(requested).await.unwrap();
    let removed = &done["erasure"]["removed"];
    assert_eq!(
        (
            removed["ids"].clone(),
            removed["tape_events"].clone(),
            removed["dead_letters"].clone(),
            removed["archive_events"].clone()
        ),
        (json!(2), json!(2), json!(1), json!(2)),
        "{done}"
    );
    let (_, _, audit) = stack
        .call(&token, call("GET", &format!("/v1/erasures/{id}"), None))
        .await;
    assert_eq!(audit["status"], "completed");
    assert!(audit["completed_at"].is_string());

    let after = everything(&tables).await;
    assert!(
        !after.contains(subject),
        "nothing of the person is left anywhere"
    );
    assert!(!after.contains(alias), "nor of their alias");
    assert!(after.contains(bystander), "other people stay");
    let (_, _, body) = stack.call(&token, journey(bystander, "")).await;
    assert_eq!(ids(&body), ["b1"]);

    // Events arriving afterwards make a new person, even a resend of an old one.
    let again = [
        event("s1", subject, now - Duration::hours(2)),
        event("s3", subject, now),
    ];
    assert_eq!(
        stack.call(&token, post_batch(&again)).await.0,
        StatusCode::ACCEPTED
    );
    assert!(stack.pump().await.is_empty());
    let (_, _, body) = stack.call(&token, journey(subject, "")).await;
    assert_eq!(ids(&body), ["s1", "s3"]);
    let (_, _, aliases) = stack
        .call(
            &token,
            call("GET", &format!("/v1/persons/{subject}/aliases"), None),
        )
        .await;
    assert_eq!(aliases["aliases"], json!([]), "{aliases}");

    // Running the job again changes nothing.
    let mut again = fixture("maintenance-erasure-requested.json");
    again["detail"] = json!({"tenant": tenant, "job": id});
    assert_eq!(
        stack.maintain(again).await.unwrap()["erasure"]["completed_at"],
        audit["completed_at"]
    );
}

/// A tenant's bus whose events land on an SQS queue; returns (bus ARN, queue URL).
async fn bus_into_queue(stack: &Stack) -> (String, String) {
    let name = cjaas_tests::unique("tenant-bus");
    let arn = aws_sdk_eventbridge::Client::new(&stack.sdk)
        .create_event_bus()
        .name(&name)
        .send()
        .await
        .unwrap()
        .event_bus_arn
        .unwrap();
    let queue = rule_to_queue(&stack.sdk, &name, json!({"source": ["cjaas.journey"]})).await;
    (arn, queue)
}

async fn received_ids(stack: &Stack, queue: &str, want: usize) -> Vec<String> {
    let mut ids: Vec<String> = receive(&stack.sdk, queue, want)
        .await
        .iter()
        .map(|m| m["detail"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn archived_events_are_forwarded_to_the_tenants_destinations_with_retries() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let (_, other) = stack.create_tenant().await;
    let reader = stack.create_key(&token, &["tape:read"]).await;
    let s3 = cjaas_aws::settings::s3_client(&stack.sdk);
    let lake = cjaas_tests::unique("tenant-lake");
    s3.create_bucket().bucket(&lake).send().await.unwrap();
    let late_bucket = cjaas_tests::unique("not-yet");
    let (bus_arn, queue) = bus_into_queue(&stack).await;
    let config = json!({"destinations": [
        {"id": "lake", "type": "s3", "bucket": lake, "prefix": "cjaas/"},
        {"id": "bus", "type": "eventbridge", "bus_arn": bus_arn},
        {"id": "later", "type": "s3", "bucket": late_bucket, "prefix": ""},
        {"id": "sneaky", "type": "s3", "bucket": stack.archive_bucket, "prefix": "archive/tenant=victim/"},
    ]});

    let bad = json!({"destinations": [{"id": "x", "type": "s3", "bucket": "Not_A_Bucket", "prefix": "/abs"}]});
    let (status, _, problem) = stack
        .call(&token, call("PUT", "/v1/forwarding", Some(bad)))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_request")),
        "{problem}"
    );
    let unknown = json!({"destinations": [{"id": "x", "type": "s3", "bucket": "abc", "prefix": "", "acl": "public"}]});
    assert_eq!(
        stack
            .call(&token, call("PUT", "/v1/forwarding", Some(unknown)))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        stack
            .call(&reader, call("PUT", "/v1/forwarding", Some(config.clone())))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, _, saved) = stack
        .call(&token, call("PUT", "/v1/forwarding", Some(config)))
        .await;
    assert_eq!(
        (status, saved["destinations"].as_array().unwrap().len()),
        (StatusCode::OK, 4),
        "{saved}"
    );
    let (_, _, theirs) = stack
        .call(&other, call("GET", "/v1/forwarding", None))
        .await;
    assert_eq!(theirs["destinations"], json!([]));

    let at = hour() - Duration::hours(1);
    let events = [
        event("f1", "ana", at),
        event("f2", "ben", at + Duration::minutes(5)),
    ];
    assert_eq!(
        stack.call(&token, post_batch(&events)).await.0,
        StatusCode::ACCEPTED
    );
    let batch = read_stream(&stack.sdk, &stack.stream).await;
    assert!(
        stack.archive(batch).await.is_empty(),
        "a failing destination never fails the batch"
    );

    // The S3 copy has the archive's layout and bytes; the bus got one event each.
    let archived = stack.objects(&stack.archive_bucket).await;
    let (key, bytes) = archived
        .iter()
        .find(|(k, _)| k.starts_with("archive/"))
        .unwrap();
    let copy = key.replacen("archive/", "cjaas/", 1);
    assert_eq!(&stack.objects(&lake).await[&copy], bytes);
    assert_eq!(received_ids(&stack, &queue, 2).await, ["f1", "f2"]);

    // The missing bucket failed; the status says so and a retry waits.
    let (_, _, status) = stack
        .call(&token, call("GET", "/v1/forwarding", None))
        .await;
    let later = &status["destinations"][2];
    assert_eq!(
        (
            later["status"]["failed_attempts"].clone(),
            later["pending_retries"].clone()
        ),
        (json!(1), json!(1)),
        "{status}"
    );
    assert!(later["status"]["last_error"].is_string());
    assert_eq!(status["destinations"][0]["status"]["delivered_events"], 2);
    // The deployment's own buckets are never a destination: no planting into the archive.
    let sneaky = &status["destinations"][3]["status"];
    assert!(
        sneaky["last_error"]
            .as_str()
            .unwrap()
            .contains("belongs to this CJaaS deployment"),
        "{sneaky}"
    );
    assert!(stack
        .objects(&stack.archive_bucket)
        .await
        .keys()
        .all(|k| !k.contains("tenant=victim")));

    // Once the bucket exists, the daily sweep delivers from the archive.
    s3.create_bucket()
        .bucket(&late_bucket)
        .send()
        .await
        .unwrap();
    let swept = stack
        .maintain(fixture("maintenance-schedule.json"))
        .await
        .unwrap();
    assert_eq!(swept["forwarding_retries_delivered"], 1, "{swept}");
    assert_eq!(
        &stack.objects(&late_bucket).await[&key.replacen("archive/", "", 1)],
        bytes
    );
    let (_, _, status) = stack
        .call(&token, call("GET", "/v1/forwarding", None))
        .await;
    assert_eq!(status["destinations"][2]["pending_retries"], 0);
}

#[tokio::test]
async fn a_profile_snapshot_never_counts_an_event_past_its_retention() {
    let stack = Stack::create().await;
    let (tenant, token) = stack.create_tenant().await;
    let mut retention = fixture("tenant-admin-set-retention.json");
    retention["tenant"] = json!(tenant);
    retention["days"] = json!(1);
    stack.command(retention).await.unwrap();
    let now = Utc::now();
    // Leaves the 1-day retention 15 seconds from now: room for the first two reads
    // even on a loaded machine.
    let leaves_at = now + Duration::seconds(15);
    let soon = leaves_at - Duration::days(1);
    let events = [event("soon", "ana", soon), event("stays", "ana", now)];
    assert_eq!(
        stack.call(&token, post_batch(&events)).await.0,
        StatusCode::ACCEPTED
    );
    assert!(stack.pump().await.is_empty());
    let view = json!({"name": "v", "attributes": [{"name": "n", "aggregation": "count"}]});
    let (_, _, view) = stack
        .call(&token, call("POST", "/v1/views", Some(view)))
        .await;
    let path = format!(
        "/v1/persons/ana/profile?view={}",
        view["id"].as_str().unwrap()
    );
    let (_, _, first) = stack.call(&token, call("GET", &path, None)).await;
    assert_eq!(first["profile"]["attributes"]["n"], 2, "{first}");
    let (_, _, again) = stack.call(&token, call("GET", &path, None)).await;
    assert_eq!(
        again["profile"]["stats"]["snapshot"], "incremental",
        "{again}"
    );
    assert!(Utc::now() < leaves_at, "the first reads took too long");
    let wait = (leaves_at - Utc::now() + Duration::seconds(1))
        .to_std()
        .unwrap();
    tokio::time::sleep(wait).await;
    let (_, _, later) = stack.call(&token, call("GET", &path, None)).await;
    assert_eq!(later["profile"]["attributes"]["n"], 1, "{later}");
    assert_eq!(later["profile"]["stats"]["snapshot"], "refolded");
}

/// The `stream` function's router, followed from `position` with a real SSE client:
/// CloudEvent ids until `until` is seen.
async fn tail_until(stack: &Stack, token: &str, position: &str, until: &str) -> Vec<String> {
    use eventsource_stream::Eventsource;
    use futures::StreamExt;
    use tower::ServiceExt;
    let router =
        cjaas_aws::wiring::stream_router(&stack.wiring(), std::time::Duration::from_millis(100))
            .expect("the stream function");
    let request = http::Request::get(format!("/v1/stream?access_token={token}"))
        .header("last-event-id", position)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut events = response.into_body().into_data_stream().eventsource();
    let mut seen: Vec<String> = Vec::new();
    while seen.last().is_none_or(|id| id != until) {
        let event = tokio::time::timeout(std::time::Duration::from_secs(20), events.next())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        if event.event == "cloudevent" {
            let body: Value = serde_json::from_str(&event.data).unwrap();
            seen.push(body["id"].as_str().unwrap().to_owned());
        }
    }
    seen
}

/// An archiver that knows nothing of erasures: one that ran behind the erasure.
async fn archive_unaware(stack: &Stack, batch: Value) {
    use aws_lambda_events::event::kinesis::KinesisEvent;
    let s3 = cjaas_aws::settings::s3_client(&stack.sdk);
    let objects = cjaas_aws::S3Objects::new(s3, stack.archive_bucket.clone());
    let archiver = cjaas_app::archive::Archiver::new(
        std::sync::Arc::new(stack.writer()),
        std::sync::Arc::new(cjaas_aws::S3Archive(objects)),
    );
    let event: KinesisEvent = serde_json::from_value(batch).unwrap();
    let context = lambda_runtime::Context::default();
    let response = cjaas_aws::lambda::handle_archive(
        &archiver,
        lambda_runtime::LambdaEvent::new(event, context),
    )
    .await
    .unwrap();
    assert!(response.batch_item_failures.is_empty());
}

#[tokio::test]
async fn an_erasure_reaches_the_records_kinesis_still_holds() {
    let stack = Stack::create().await;
    let (tenant, token) = stack.create_tenant().await;
    let (subject, alias, bystander) = ("kin-erase-5e1a", "kin-alias-0c7d", "kin-stays-2b9f");
    let now = Utc::now();
    let events = [
        event("b0", bystander, now - Duration::hours(3)),
        event("s1", subject, now - Duration::hours(2)),
        event("s2", alias, now - Duration::hours(2)),
        event("b1", bystander, now - Duration::hours(1)),
    ];
    assert_eq!(
        stack.call(&token, post_batch(&events)).await.0,
        StatusCode::ACCEPTED
    );
    let old = read_stream(&stack.sdk, &stack.stream).await;
    assert!(stack.deliver(&stack.writer(), old.clone()).await.is_empty());
    assert!(stack.archive(old.clone()).await.is_empty());
    let link = json!({"aliases": [alias]});
    let aliases = call(
        "POST",
        &format!("/v1/persons/{subject}/aliases"),
        Some(link),
    );
    assert_eq!(stack.call(&token, aliases).await.0, StatusCode::OK);

    let (_, _, job) = stack
        .call(
            &token,
            call("DELETE", &format!("/v1/persons/{subject}"), None),
        )
        .await;
    let mut requested = fixture("maintenance-erasure-requested.json");
    requested["detail"] = json!({"tenant": tenant, "job": job["id"]});
    let done = stack.maintain(requested).await.unwrap();
    let removed = &done["erasure"]["removed"];
    assert_eq!(
        (
            removed["tape_events"].clone(),
            removed["local_log_records"].clone(),
            removed["storage_rewritten"].clone()
        ),
        (json!(2), json!(0), json!(false)),
        "{done}"
    );
    let until: DateTime<Utc> = removed["stream_skipped_until"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        until >= now + Duration::hours(47),
        "the stream's retention and a day: {until}"
    );
    let tombstones = stack.dump_table(&stack.config_table).await;
    assert!(
        !tombstones.contains(subject) && tombstones.contains("#ERASED"),
        "{tombstones}"
    );

    // An archiver that runs the old batch again leaves the person out.
    assert!(stack.archive(old.clone()).await.is_empty());
    let lines: Vec<String> = archived(&stack, &tenant)
        .await
        .into_iter()
        .flat_map(|(_, ids)| ids)
        .collect();
    assert_eq!(lines, ["b0", "b1"]);
    // One that knows nothing of erasures writes them back; a replay still leaves them out.
    archive_unaware(&stack, old.clone()).await;
    let mut replay = fixture("tenant-admin-replay.json");
    replay["tenant"] = json!(tenant);
    replay["from"] = json!(now - Duration::hours(4));
    replay["to"] = json!(now);
    assert_eq!(stack.command(replay).await.unwrap()["events_replayed"], 2);
    // The Tape writer reads on from where it was, as its event source mapping does.
    let mut replayed = read_stream(&stack.sdk, &stack.stream).await;
    let seen = old["Records"].as_array().unwrap().len();
    replayed["Records"].as_array_mut().unwrap().drain(..seen);
    assert_eq!(replayed["Records"].as_array().unwrap().len(), 2);
    assert!(stack.deliver(&stack.writer(), replayed).await.is_empty());
    // A Tape writer that reads the old records again (its position moved back, or a
    // record was in flight during the erasure) leaves the person out too.
    assert!(stack.deliver(&stack.writer(), old.clone()).await.is_empty());
    for person in [subject, alias] {
        let (_, _, body) = stack.call(&token, journey(person, "")).await;
        assert_eq!(ids(&body), Vec::<String>::new(), "{person} stays erased");
    }

    // After the erasure the id is a new person: the stream shows their new events.
    let later = [event("s3", subject, now)];
    assert_eq!(
        stack.call(&token, post_batch(&later)).await.0,
        StatusCode::ACCEPTED
    );
    // Resuming from before the erasure: the records Kinesis still holds are skipped.
    use base64::Engine;
    let first = old["Records"][0]["eventID"].as_str().unwrap();
    let (shard, sequence) = first.split_once(':').unwrap();
    let position = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({ shard: sequence }).to_string());
    assert_eq!(
        tail_until(&stack, &token, &position, "s3").await,
        ["b1", "b0", "b1", "s3"],
        "the bystander, the replay of their events, then the new person"
    );
}

/// The daily sweep goes on past a failing tenant, then fails naming it, so that
/// EventBridge retries. In AWS it used to stop at the first failure and leave the
/// other tenants unswept.
#[tokio::test]
async fn a_failing_tenant_does_not_stop_the_daily_sweep() {
    use cjaas_app::wiring::Adapters;
    use cjaas_core::ids::TenantId;
    use cjaas_core::ports::Expect;
    let stack = Stack::create().await;
    let wiring = stack.wiring();
    let (broken, _) = stack.create_tenant().await;
    let (healthy, _) = stack.create_tenant().await;
    let objects = wiring.0.archive().unwrap();
    for tenant in [&broken, &healthy] {
        let retention = json!({"command": "set-retention", "tenant": tenant, "days": 1});
        stack.command(retention).await.unwrap();
        let partition = archive::partition(tenant, Utc::now() - Duration::days(30));
        let key = archive::data_key(&partition, "old");
        objects.put(&key, archive::encode(&[])).await.unwrap();
        assert_eq!(archived(&stack, tenant).await.len(), 1);
    }
    // An erasure job that cannot be read: the broken tenant's erasure step fails.
    let jobs = cjaas_core::erasure::jobs(&TenantId::parse(&broken).unwrap());
    let docs = wiring.0.docs().unwrap();
    docs.put(&jobs, "erasure-unreadable", "{not json", Expect::Anything)
        .await
        .unwrap();

    let mut schedule = fixture("maintenance-schedule.json");
    schedule["time"] = json!(Utc::now());
    let error = stack.maintain(schedule).await.unwrap_err();

    assert!(error.starts_with("maintenance_failed"), "{error}");
    assert!(error.contains(&format!("{broken} (erasure")), "{error}");
    assert!(!error.contains(&healthy), "{error}");
    assert!(
        archived(&stack, &healthy).await.is_empty(),
        "the other tenant was swept"
    );
    assert!(
        archived(&stack, &broken).await.is_empty(),
        "the failing tenant's other steps ran"
    );
}
