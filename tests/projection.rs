//! The Tape's lean projection on DynamoDB (the emulator): appends write each entry's
//! step item in the entry's transaction; entries written before the projection still
//! read, by decoding the full event, until the operator backfill (through the
//! maintenance function's operator path) has given each its step item; erasure takes
//! the step items with the entries.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::json;

use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::TapeStore;
use cjaas_core::projection::{steps_from_entries, TapeStep};
use cjaas_core::tape::TapeEntry;
use cjaas_tests::{fixture, Stack};

fn tape_store(sdk: &aws_config::SdkConfig, table: &str) -> cjaas_aws::DynamoTapeStore {
    cjaas_aws::DynamoTapeStore::new(aws_sdk_dynamodb::Client::new(sdk), table.to_owned())
}

fn entry(tenant: &TenantId, person: &PersonId, time: DateTime<Utc>, n: usize) -> TapeEntry {
    let (id, ty, source) = (
        format!("e{n}"),
        ["view", "cart", "buy"][n % 3],
        format!("/s{}", n % 2),
    );
    TapeEntry {
        tenant: tenant.clone(),
        person: person.clone(),
        time,
        received_at: time,
        ty: ty.to_owned(),
        source: source.clone(),
        id: id.clone(),
        expires_at: n
            .is_multiple_of(5)
            .then(|| (time - Duration::days(1)).timestamp()),
        event: json!({"specversion": "1.0", "id": id, "source": source, "type": ty,
                      "person": person.as_str(), "time": time, "data": {"n": n}})
        .to_string(),
    }
}

async fn all_steps(
    tape: &dyn TapeStore,
    tenant: &TenantId,
    person: &PersonId,
    full: bool,
) -> Vec<TapeStep> {
    let (mut after, mut steps) = (None, Vec::new());
    loop {
        let page = if full {
            steps_from_entries(tape, tenant, person, None, after).await
        } else {
            tape.steps(tenant, person, None, after).await
        }
        .unwrap();
        steps.extend(page.steps);
        match page.next {
            Some(next) => after = Some(next),
            None => return steps,
        }
    }
}

/// The sort keys of the partition's items that start with `prefix`.
async fn keys(stack: &Stack, pk: &str, prefix: &str) -> Vec<String> {
    let output = aws_sdk_dynamodb::Client::new(&stack.sdk)
        .query()
        .table_name(&stack.tape_table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    output
        .items()
        .iter()
        .map(|i| i["sk"].as_s().unwrap().clone())
        .filter(|sk| sk.starts_with(prefix))
        .collect()
}

#[tokio::test]
async fn old_entries_read_until_the_backfill_gives_them_their_projection() {
    let stack = Stack::create().await;
    let tenant = TenantId::parse("acme").unwrap();
    let person = PersonId::parse("alice").unwrap();
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let entries: Vec<_> = (0..24)
        .map(|n| {
            entry(
                &tenant,
                &person,
                now - Duration::minutes((n * 7 % 24) as i64),
                n,
            )
        })
        .collect();
    let tape = tape_store(&stack.sdk, &stack.tape_table);
    tape.append_batch(&entries).await;
    let pk = entries[0].partition_key();
    let steps = keys(&stack, &pk, "S#").await;
    assert_eq!(
        steps.len(),
        24,
        "one step item per entry, in its transaction"
    );

    // As the previous version left the table: 10 entries without a step item.
    let client = aws_sdk_dynamodb::Client::new(&stack.sdk);
    for sk in &steps[..10] {
        client
            .delete_item()
            .table_name(&stack.tape_table)
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(sk.clone()))
            .send()
            .await
            .unwrap();
    }
    let full = all_steps(&tape, &tenant, &person, true).await;
    assert_eq!(full.len(), 24 - 5, "expired entries are left out");
    assert_eq!(
        all_steps(&tape, &tenant, &person, false).await,
        full,
        "before the backfill, the full entries are read"
    );

    // What an operator sends the maintenance function, through its handler.
    let request = fixture("maintenance-projection-backfill.json");
    let report = stack.maintain(request.clone()).await.unwrap();
    assert_eq!(report["projections_written"], 10, "{report}");
    assert_eq!(report["complete"], true);
    let again = stack.maintain(request).await.unwrap();
    assert_eq!(again["projections_written"], 0, "{again}");

    // A new process reads the projection, and it says the same.
    let fresh = tape_store(&stack.sdk, &stack.tape_table);
    assert_eq!(all_steps(&fresh, &tenant, &person, false).await, full);
    assert_eq!(keys(&stack, &pk, "S#").await, steps);

    assert_eq!(fresh.erase(&tenant, &person).await.unwrap(), 24);
    assert!(
        keys(&stack, &pk, "").await.is_empty(),
        "nothing of alice is left"
    );
    assert!(all_steps(&fresh, &tenant, &person, false).await.is_empty());
}
