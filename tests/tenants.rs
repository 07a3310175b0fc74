//! Tenant isolation: the tenant always comes from the verified credential, and no id,
//! path or forged token lets one tenant read or change another's data.

use cjaas_tests::{ids, post_batch as post, put_direct, request, Stack};
use http::StatusCode;
use serde_json::{json, Value};

fn event(id: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/s", "type": "t", "person": "alice"})
}

fn journey() -> Value {
    cjaas_tests::journey("alice", "")
}

#[tokio::test]
async fn tenants_never_see_or_change_each_others_data() {
    let stack = Stack::create().await;
    let (tenant_a, token_a) = stack.create_tenant().await;
    let (tenant_b, token_b) = stack.create_tenant().await;

    // Same person id, same event ids, in both tenants; B even names A in its events.
    let mut sneaky = event("shared-id");
    sneaky["tenant"] = json!(tenant_a);
    assert_eq!(
        stack
            .call(&token_a, post(&[event("shared-id"), event("a-only")]))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stack.call(&token_b, post(&[sneaky])).await.0,
        StatusCode::ACCEPTED
    );
    // A direct record with B's credential that claims A's tenant, unstamped.
    let claim = json!({"tenant": tenant_a, "credential": token_b, "event": event("b-direct")});
    put_direct(&stack.sdk, &stack.stream, claim.to_string().as_bytes()).await;
    assert!(stack.pump().await.is_empty());

    let (_, _, a_view) = stack.call(&token_a, journey()).await;
    let (_, _, b_view) = stack.call(&token_b, journey()).await;
    let (mut a_ids, mut b_ids) = (ids(&a_view), ids(&b_view));
    a_ids.sort();
    b_ids.sort();
    assert_eq!(a_ids, ["a-only", "shared-id"]);
    assert_eq!(
        b_ids,
        ["b-direct", "shared-id"],
        "dedup is per tenant, and the credential decides"
    );

    // B re-labels its own key with A's tenant: the key does not exist under A.
    let (_, b_key_id, b_secret) = split_key(&token_b);
    let forged = format!("cjk_{tenant_a}_{b_key_id}_{b_secret}");
    let (status, _, body) = stack.call(&forged, journey()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credential"))
    );

    // B's admin sees only B's keys, and cannot revoke A's key by id.
    let list = request("admin-create-key.json", "GET", "/v1/keys", json!({}), None);
    let (_, _, b_keys) = stack.call(&token_b, list.clone()).await;
    let tenants: Vec<&str> = b_keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, [tenant_b.as_str()]);
    assert!(
        b_keys.to_string().find("cjk_").is_none(),
        "secrets are never listed"
    );
    let (_, a_key_id, _) = split_key(&token_a);
    let revoke = request(
        "admin-create-key.json",
        "DELETE",
        &format!("/v1/keys/{a_key_id}"),
        json!({}),
        None,
    );
    let (status, _, body) = stack.call(&token_b, revoke.clone()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("key_not_found"))
    );
    assert_eq!(
        stack.call(&token_a, journey()).await.0,
        StatusCode::OK,
        "A's key still works"
    );

    // A revokes its own key: from then on it is refused.
    assert_eq!(stack.call(&token_a, revoke).await.0, StatusCode::NO_CONTENT);
    let (status, _, body) = stack.call(&token_a, journey()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credential"))
    );
}

#[tokio::test]
async fn tenant_admin_commands_run_from_the_fixture_payloads() {
    use cjaas_aws::lambda::handle_tenant_command;
    use lambda_runtime::{Context, LambdaEvent};
    let stack = Stack::create().await;
    let jobs = stack.jobs();
    let run = |payload: Value| {
        let jobs = &jobs;
        async move {
            let command = serde_json::from_value(payload).expect("a command");
            handle_tenant_command(jobs, LambdaEvent::new(command, Context::default())).await
        }
    };
    let tenant = cjaas_tests::unique("acme");
    let with_tenant = |name: &str| {
        let mut payload = cjaas_tests::fixture(name);
        payload["tenant"] = json!(tenant);
        payload
    };
    let first = run(with_tenant("tenant-admin-create-tenant.json"))
        .await
        .expect("created");
    assert_eq!(
        first["scopes"],
        json!(["events:write", "tape:read", "admin"])
    );
    let again = run(with_tenant("tenant-admin-create-tenant.json"))
        .await
        .unwrap_err();
    assert_eq!(again.code, "tenant_exists");
    let key = run(with_tenant("tenant-admin-create-key.json"))
        .await
        .expect("key created");
    assert_eq!(
        (key["scopes"].clone(), key["label"].clone()),
        (json!(["events:write"]), json!("web tag"))
    );
    assert!(key["expires_at"].is_string());
    let listed = run(with_tenant("tenant-admin-list-keys.json"))
        .await
        .expect("listed");
    assert_eq!(listed["keys"].as_array().unwrap().len(), 2);
    let unknown = run(json!({"command": "list-keys", "tenant": "Not A Tenant"}))
        .await
        .unwrap_err();
    assert_eq!(unknown.code, "invalid_tenant");
    let missing =
        run(json!({"command": "create-key", "tenant": "nobody-here", "scopes": ["admin"]}))
            .await
            .unwrap_err();
    assert_eq!(missing.code, "unknown_tenant");
}

fn split_key(token: &str) -> (String, String, String) {
    let parts: Vec<&str> = token.splitn(4, '_').collect();
    (
        parts[1].to_owned(),
        parts[2].to_owned(),
        parts[3].to_owned(),
    )
}
