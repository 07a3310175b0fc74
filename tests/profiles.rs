//! Views, profiles and aliases on the emulator, through the real API handlers.

use cjaas_tests::{call, ids, journey, post_batch, Stack};
use http::StatusCode;
use serde_json::{json, Value};

fn checkout_view() -> Value {
    json!({"name": "checkout", "attributes": [
        {"name": "ltv", "filter": {"type": "order.paid"}, "field": "/data/total", "aggregation": "sum"},
        {"name": "orders", "filter": {"type": "order.paid"}, "aggregation": "count"},
        {"name": "device", "field": "/data/device", "aggregation": "latest"},
        {"name": "pages", "filter": {"type": "page.viewed"}, "field": "/data/path", "aggregation": "distinct", "limit": 5, "window": "30d"},
        {"name": "boosted", "expression": "device == 'iPhone' ? ltv * 1.5 : ltv"},
    ]})
}

fn event(id: &str, person: &str, ty: &str, minutes_ago: i64, data: Value) -> Value {
    let time = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
    json!({"specversion": "1.0", "id": id, "source": "/shop", "type": ty, "person": person, "time": time, "data": data})
}

#[tokio::test]
async fn views_are_versioned_validated_and_tenant_scoped() {
    let stack = Stack::create().await;
    let (_, admin) = stack.create_tenant().await;
    let (_, other) = stack.create_tenant().await;

    let (status, _, v1) = stack
        .call(&admin, call("POST", "/v1/views", Some(checkout_view())))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v1}");
    let id = v1["id"].as_str().unwrap().to_owned();
    assert_eq!(v1["version"], 1);

    let mut changed = checkout_view();
    changed["attributes"][1]["aggregation"] = json!("exists");
    let (status, _, v2) = stack
        .call(
            &admin,
            call("PUT", &format!("/v1/views/{id}"), Some(changed)),
        )
        .await;
    assert_eq!((status, v2["version"].clone()), (StatusCode::OK, json!(2)));
    let (_, _, latest) = stack
        .call(&admin, call("GET", &format!("/v1/views/{id}"), None))
        .await;
    assert_eq!(
        latest["definition"]["attributes"][1]["aggregation"],
        "exists"
    );
    let (_, _, old) = stack
        .call(
            &admin,
            call("GET", &format!("/v1/views/{id}/versions/1"), None),
        )
        .await;
    assert_eq!(old["definition"]["attributes"][1]["aggregation"], "count");

    // Another tenant sees nothing of it.
    let (status, _, body) = stack
        .call(&other, call("GET", &format!("/v1/views/{id}"), None))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("view_not_found"))
    );
    let (_, _, listed) = stack.call(&other, call("GET", "/v1/views", None)).await;
    assert_eq!(listed["views"], json!([]));
    let (status, _, _) = stack
        .call(&other, call("DELETE", &format!("/v1/views/{id}"), None))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An invalid view names every problem and is not stored.
    let invalid = json!({"name": "bad", "attributes": [
        {"name": "a", "field": "/data/x", "aggregation": "median"},
        {"name": "b", "field": "data.x", "aggregation": "sum"},
        {"name": "c", "expression": "d +"},
        {"name": "d", "expression": "e"}, {"name": "e", "expression": "d"},
    ]});
    let (status, headers, body) = stack
        .call(&admin, call("POST", "/v1/views", Some(invalid)))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_view"))
    );
    assert_eq!(headers["content-type"], "application/problem+json");
    let codes: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    for code in [
        "unknown_aggregation",
        "invalid_pointer",
        "invalid_expression",
        "cycle",
    ] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
    let (_, _, listed) = stack.call(&admin, call("GET", "/v1/views", None)).await;
    assert_eq!(
        listed["views"].as_array().unwrap().len(),
        1,
        "only the valid view"
    );

    // Deleted: gone from listing and latest reads; its versions stay readable.
    assert_eq!(
        stack
            .call(&admin, call("DELETE", &format!("/v1/views/{id}"), None))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        stack
            .call(&admin, call("GET", &format!("/v1/views/{id}"), None))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stack
            .call(
                &admin,
                call("GET", &format!("/v1/views/{id}/versions/2"), None)
            )
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn profiles_fold_the_tape_in_event_time_and_reuse_their_snapshot() {
    let stack = Stack::create().await;
    let (_, admin) = stack.create_tenant().await;
    let (_, _, view) = stack
        .call(&admin, call("POST", "/v1/views", Some(checkout_view())))
        .await;
    let profile_path = format!(
        "/v1/persons/alice/profile?view={}",
        view["id"].as_str().unwrap()
    );

    let events = [
        event(
            "p1",
            "alice",
            "page.viewed",
            60 * 24 * 40,
            json!({"path": "/old"}),
        ),
        event(
            "p2",
            "alice",
            "page.viewed",
            30,
            json!({"path": "/pricing", "device": "Android"}),
        ),
        event(
            "o1",
            "alice",
            "order.paid",
            20,
            json!({"total": 40, "device": "iPhone"}),
        ),
        event("o2", "alice", "order.paid", 10, json!({"total": 60.5})),
    ];
    assert_eq!(
        stack.call(&admin, post_batch(&events)).await.0,
        StatusCode::ACCEPTED
    );
    stack.pump().await;

    let (status, _, first) = stack.call(&admin, call("GET", &profile_path, None)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let attributes = &first["profile"]["attributes"];
    assert_eq!(attributes["ltv"], json!(100.5));
    assert_eq!(attributes["orders"], json!(2));
    assert_eq!(attributes["device"], json!("iPhone"));
    assert_eq!(
        attributes["pages"],
        json!(["/pricing"]),
        "the 40-day-old view is outside 30d"
    );
    assert_eq!(attributes["boosted"], json!(150.75));
    assert_eq!(first["profile"]["stats"]["snapshot"], "refolded");

    // A later event, and a late one that is older than everything: both counted, and
    // the late one does not change `device`.
    let more = [
        event(
            "o3",
            "alice",
            "order.paid",
            5,
            json!({"total": 10, "device": "Pixel"}),
        ),
        event(
            "late",
            "alice",
            "order.paid",
            60,
            json!({"total": 1, "device": "Nokia"}),
        ),
    ];
    stack.call(&admin, post_batch(&more[..1])).await;
    stack.pump().await;
    let (_, _, second) = stack.call(&admin, call("GET", &profile_path, None)).await;
    assert_eq!(second["profile"]["stats"]["snapshot"], "incremental");
    assert_eq!(
        second["profile"]["stats"]["events_read"],
        json!(1 + 4),
        "one new event, plus the four in the 30d window"
    );
    assert_eq!(second["profile"]["attributes"]["device"], "Pixel");
    stack.call(&admin, post_batch(&more[1..])).await;
    stack.pump().await;
    let (_, _, third) = stack.call(&admin, call("GET", &profile_path, None)).await;
    assert_eq!(third["profile"]["attributes"]["ltv"], json!(111.5));
    assert_eq!(
        third["profile"]["attributes"]["device"], "Pixel",
        "late but older: not latest"
    );

    // Inline, explained, and not stored.
    let inline = json!({"person": "alice", "explain": true, "view": {"name": "x", "attributes": [
        {"name": "device", "field": "/data/device", "aggregation": "latest"}]}});
    let (status, _, explained) = stack
        .call(&admin, call("POST", "/v1/profiles", Some(inline)))
        .await;
    assert_eq!(status, StatusCode::OK, "{explained}");
    assert_eq!(
        explained["profile"]["events"]["device"],
        json!([{"source": "/shop", "id": "o3"}])
    );

    let (status, _, missing) = stack
        .call(&admin, call("GET", "/v1/persons/alice/profile", None))
        .await;
    assert_eq!(
        (status, missing["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
}

#[tokio::test]
async fn aliases_merge_journeys_and_profiles_softly() {
    let stack = Stack::create().await;
    let (_, admin) = stack.create_tenant().await;
    let (_, other) = stack.create_tenant().await;
    let events = [
        event(
            "web-1",
            "cookie-123",
            "page.viewed",
            30,
            json!({"path": "/"}),
        ),
        event("crm-1", "alice", "order.paid", 20, json!({"total": 10})),
        event("call-1", "+4912345", "call.started", 10, json!({})),
    ];
    stack.call(&admin, post_batch(&events)).await;
    stack.pump().await;

    let link = |person: &str, aliases: Value, allow_move: bool| {
        call(
            "POST",
            &format!("/v1/persons/{person}/aliases"),
            Some(json!({"aliases": aliases, "move": allow_move})),
        )
    };
    let (status, _, linked) = stack
        .call(&admin, link("alice", json!(["cookie-123"]), false))
        .await;
    assert_eq!(status, StatusCode::OK, "{linked}");
    // Transitive: the phone number is linked to the cookie, which is linked to alice.
    stack
        .call(&admin, link("cookie-123", json!(["+4912345"]), false))
        .await;
    let (_, _, view) = stack
        .call(&admin, call("GET", "/v1/persons/alice/aliases", None))
        .await;
    assert_eq!(view["group"], json!(["+4912345", "alice", "cookie-123"]));

    let (_, _, journey_of_alice) = stack.call(&admin, journey("alice", "")).await;
    assert_eq!(ids(&journey_of_alice), ["web-1", "crm-1", "call-1"]);
    let (_, _, from_the_phone) = stack.call(&admin, journey("+4912345", "")).await;
    assert_eq!(
        ids(&from_the_phone),
        ["web-1", "crm-1", "call-1"],
        "any id of the group"
    );
    let (_, _, paged) = stack.call(&admin, journey("alice", "limit=2")).await;
    assert_eq!(ids(&paged), ["web-1", "crm-1"]);
    let cursor = paged["next_cursor"].as_str().unwrap();
    let (_, _, rest) = stack
        .call(
            &admin,
            journey("alice", &format!("limit=2&cursor={cursor}")),
        )
        .await;
    assert_eq!(ids(&rest), ["call-1"]);

    // Taken ids need an explicit move; cycles and self links are refused.
    let (status, _, body) = stack
        .call(&admin, link("bob", json!(["cookie-123"]), false))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("alias_taken"))
    );
    let (status, _, body) = stack
        .call(&admin, link("+4912345", json!(["alice"]), false))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("alias_cycle"))
    );
    let (status, _, body) = stack
        .call(&admin, link("alice", json!(["alice"]), false))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("self_link"))
    );

    // Another tenant's alice has no aliases and no events.
    let (_, _, theirs) = stack
        .call(&other, call("GET", "/v1/persons/alice/aliases", None))
        .await;
    assert_eq!(theirs["group"], json!(["alice"]));
    let (_, _, their_journey) = stack.call(&other, journey("alice", "")).await;
    assert!(ids(&their_journey).is_empty());

    // Move the cookie (and what hangs from it) to bob; then unlink the phone.
    let (status, _, moved) = stack
        .call(&admin, link("bob", json!(["cookie-123"]), true))
        .await;
    assert_eq!(
        (status, moved["group"].clone()),
        (StatusCode::OK, json!(["+4912345", "bob", "cookie-123"]))
    );
    let (_, _, alice_now) = stack.call(&admin, journey("alice", "")).await;
    assert_eq!(ids(&alice_now), ["crm-1"]);
    let unlink = call("DELETE", "/v1/persons/cookie-123/aliases/+4912345", None);
    assert_eq!(
        stack.call(&admin, unlink.clone()).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, _, body) = stack.call(&admin, unlink).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("alias_not_found"))
    );
    let (_, _, bob_now) = stack.call(&admin, journey("bob", "")).await;
    assert_eq!(
        ids(&bob_now),
        ["web-1"],
        "the unlink takes effect on the next read"
    );

    // The profile of bob spans the cookie's events.
    let inline = json!({"person": "bob", "view": {"name": "x", "attributes": [
        {"name": "pages", "field": "/data/path", "aggregation": "distinct"}]}});
    let (_, _, profile) = stack
        .call(&admin, call("POST", "/v1/profiles", Some(inline)))
        .await;
    assert_eq!(profile["profile"]["attributes"]["pages"], json!(["/"]));
    assert_eq!(profile["profile"]["group"], json!(["bob", "cookie-123"]));
}
