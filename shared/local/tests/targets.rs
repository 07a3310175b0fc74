//! Webhook and enrichment targets on the embedded default: private, loopback and
//! metadata addresses are refused when a rule is stored (422 `forbidden_target`) and
//! again at delivery, after DNS resolution, unless the operator allows private targets
//! (`CJAAS_ALLOW_PRIVATE_TARGETS`). Redirects are never followed.

mod common;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

use cjaas_core::ids::TenantId;
use cjaas_core::ports::{DeadLetter, DeadLetterSink};
use cjaas_core::target::TargetPolicy;
use cjaas_local::server::{bind, LocalApp, DEV_TENANT};
use cjaas_local::EmbeddedStore;
use common::{start, start_with};

/// How many calls each route of the receiver got.
#[derive(Default)]
struct Calls {
    hook: AtomicUsize,
    enrich: AtomicUsize,
    redirect: AtomicUsize,
}

/// A receiver on loopback: `/hook`, `/enrich` (answers fields) and `/redirect`
/// (307 to its own `/hook`). Returns its `http://127.0.0.1:port` and its calls.
async fn receiver() -> (String, Arc<Calls>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let calls = Arc::new(Calls::default());
    let to_hook = format!("{base}/hook");
    let app = Router::new()
        .route(
            "/hook",
            post(|State(c): State<Arc<Calls>>| async move {
                c.hook.fetch_add(1, Ordering::SeqCst);
                "ok"
            }),
        )
        .route(
            "/enrich",
            post(|State(c): State<Arc<Calls>>| async move {
                c.enrich.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({"segment": "vip"}))
            }),
        )
        .route(
            "/redirect",
            post(move |State(c): State<Arc<Calls>>| async move {
                c.redirect.fetch_add(1, Ordering::SeqCst);
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, to_hook)],
                )
            }),
        )
        .with_state(calls.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, calls)
}

/// `cjaas-local serve` in this process, so the test can read its dead letters.
struct Running {
    base: String,
    token: String,
    store: EmbeddedStore,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn serve(dir: &Path, targets: TargetPolicy) -> Running {
    let store = EmbeddedStore::open(dir).unwrap();
    let app = LocalApp::with_targets(store.clone(), targets).unwrap();
    app.ensure_dev_tenant().await.unwrap();
    let token = app.dev_token();
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(app.serve(listener, shutdown));
    Running {
        base,
        token,
        store,
        stop,
        task,
    }
}

impl Running {
    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let content_type = if path == "/v1/events" {
            "application/cloudevents-batch+json"
        } else {
            "application/json"
        };
        let response = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn ping(&self, id: &str) {
        let event = json!([{"specversion": "1.0", "id": id, "source": "/test",
                            "type": "ping", "person": "ana"}]);
        let (status, body) = self.send(reqwest::Method::POST, "/v1/events", event).await;
        assert_eq!(status, 202, "{body}");
    }

    /// Waits until the dev tenant has `n` dead letters.
    async fn dead_letters(&self, n: usize) -> Vec<DeadLetter> {
        let dev = TenantId::parse(DEV_TENANT).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let letters = self.store.list(&dev).await.unwrap();
            if letters.len() >= n {
                return letters;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} dead letters",
                letters.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn shut_down(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

fn rule(actions: Vec<Value>) -> Value {
    json!({"name": "ping", "when": {"event": {"type": "ping"}}, "actions": actions})
}

fn webhook(url: &str) -> Value {
    json!({"type": "webhook", "url": url})
}

/// The (field, code) of every reason of a 422 `invalid_rule`.
fn reasons(status: u16, problem: &Value) -> Vec<(String, String)> {
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_rule")),
        "{problem}"
    );
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().into(),
                e["code"].as_str().unwrap().into(),
            )
        })
        .collect()
}

async fn post_rule(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn private_loopback_and_metadata_targets_are_refused_when_a_rule_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (base, token) = (server.base.as_str(), server.token.as_str());
    let forbidden = [
        "http://127.0.0.1:8080/hook",
        "http://localhost:8080/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://10.0.0.1/",
        "http://192.168.1.10/",
        "http://100.64.0.1/",
        "http://[fd00:ec2::254]/",
        "http://2130706433/",
    ];
    let mut actions: Vec<Value> = forbidden.iter().map(|u| webhook(u)).collect();
    actions[9] = json!({"type": "enrichment", "url": forbidden[9]});
    let (status, problem) = post_rule(
        base,
        token,
        reqwest::Method::POST,
        "/v1/rules",
        rule(actions),
    )
    .await;
    let expected: Vec<(String, String)> = (0..10)
        .map(|i| (format!("actions/{i}/url"), "forbidden_target".into()))
        .collect();
    assert_eq!(reasons(status, &problem), expected);

    let public = rule(vec![webhook("https://hooks.example.com/cjaas")]);
    let (status, created) =
        post_rule(base, token, reqwest::Method::POST, "/v1/rules", public).await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/v1/rules/{}", created["id"].as_str().unwrap());
    let (status, problem) = post_rule(
        base,
        token,
        reqwest::Method::PUT,
        &path,
        rule(vec![
            webhook("http://0.0.0.0:9000/"),
            webhook("ftp://example.com/"),
        ]),
    )
    .await;
    assert_eq!(
        reasons(status, &problem),
        [
            ("actions/1/url".to_owned(), "invalid_url".to_owned()),
            ("actions/0/url".to_owned(), "forbidden_target".to_owned())
        ]
    );
    drop(server);

    // With private targets allowed, loopback is fine but the metadata address is not.
    let server = start_with(dir.path(), &[("CJAAS_ALLOW_PRIVATE_TARGETS", "1")]);
    let (base, token) = (server.base.as_str(), server.token.as_str());
    let loopback = rule(vec![
        webhook("http://127.0.0.1:8080/hook"),
        webhook("http://localhost/"),
    ]);
    let (status, created) =
        post_rule(base, token, reqwest::Method::POST, "/v1/rules", loopback).await;
    assert_eq!(status, 201, "{created}");
    let metadata = rule(vec![webhook("http://169.254.169.254/latest/meta-data/")]);
    let (status, problem) =
        post_rule(base, token, reqwest::Method::POST, "/v1/rules", metadata).await;
    assert_eq!(
        reasons(status, &problem),
        [("actions/0/url".to_owned(), "forbidden_target".to_owned())]
    );
}

#[tokio::test]
async fn a_private_target_stored_earlier_is_refused_at_delivery_and_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, calls) = receiver().await;
    let port = receiver.rsplit(':').next().unwrap();

    // Stored while private targets were allowed (or before targets were checked).
    let server = serve(dir.path(), TargetPolicy::allowing_private()).await;
    let actions = vec![
        webhook(&format!("http://localhost:{port}/hook")),
        webhook(&format!("{receiver}/hook")),
        json!({"type": "enrichment", "url": format!("http://[::ffff:127.0.0.1]:{port}/enrich")}),
    ];
    let (status, created) = server
        .send(reqwest::Method::POST, "/v1/rules", rule(actions))
        .await;
    assert_eq!(status, 201, "{created}");
    server.shut_down().await;

    let server = serve(dir.path(), TargetPolicy::public_only()).await;
    server.ping("p1").await;
    let mut letters = server.dead_letters(3).await;
    letters.sort_by(|a, b| a.origin.cmp(&b.origin));
    let got: Vec<(&str, bool)> = letters
        .iter()
        .map(|l| (l.code.as_str(), l.reason.starts_with("forbidden_target: ")))
        .collect();
    assert_eq!(
        got,
        [
            ("webhook_failed", true),
            ("webhook_failed", true),
            ("enrichment_failed", true)
        ],
        "{letters:?}"
    );
    assert!(
        letters[0].reason.contains("localhost is this machine"),
        "{}",
        letters[0].reason
    );
    assert!(
        letters[1].reason.contains("loopback"),
        "{}",
        letters[1].reason
    );
    assert_eq!(
        (
            calls.hook.load(Ordering::SeqCst),
            calls.enrich.load(Ordering::SeqCst)
        ),
        (0, 0),
        "nothing reached the receiver"
    );
    server.shut_down().await;
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, calls) = receiver().await;
    let server = serve(dir.path(), TargetPolicy::allowing_private()).await;
    let actions = vec![webhook(&format!("{receiver}/redirect"))];
    let (status, created) = server
        .send(reqwest::Method::POST, "/v1/rules", rule(actions))
        .await;
    assert_eq!(status, 201, "{created}");
    server.ping("p1").await;
    let letters = server.dead_letters(1).await;
    assert_eq!(letters[0].code, "webhook_failed");
    assert!(
        letters[0].reason.contains("307")
            && letters[0].reason.contains("redirects are not followed"),
        "{}",
        letters[0].reason
    );
    assert_eq!(
        calls.redirect.load(Ordering::SeqCst),
        1,
        "a redirect is not retried"
    );
    assert_eq!(calls.hook.load(Ordering::SeqCst), 0, "nor followed");
    server.shut_down().await;
}
