//! A drain that fails after its entries reached the Tape, on the real embedded store
//! and the real poller: the step after the Tape write (the orchestrator's rules, or
//! the archive) fails through its port, the batch is read again, and still every
//! event reaches the live feed (and an SSE follower) once and the Tape once, and both
//! survive a restart.

use async_trait::async_trait;
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

use cjaas_app::wiring::{Adapters, Wiring};
use cjaas_core::auth::SigningKeys;
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{
    Archive, ConfigStore, DeadLetterSink, Document, DocumentStore, EventBus, EventLog, EventStream,
    Expect, Forwarder, Limit, LimitedOutcome, LimitedWrite, StoreError, TapeStore,
};
use cjaas_core::target::TargetPolicy;
use cjaas_local::adapters::LocalAdapters;
use cjaas_local::poller::LocalPoller;
use cjaas_local::server::{bind, LocalApp, DEV_TENANT};
use cjaas_local::EmbeddedStore;

/// Fails its next `left` calls, then succeeds; counts the failures it made.
#[derive(Default)]
struct Faults {
    left: AtomicUsize,
    made: AtomicUsize,
}

impl Faults {
    fn arm(&self, failures: usize) {
        self.left.store(failures, Ordering::SeqCst);
    }

    fn check(&self, what: &str) -> Result<(), StoreError> {
        let took = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if took.is_ok() {
            self.made.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Transient(format!(
                "injected: {what} unavailable"
            )));
        }
        Ok(())
    }
}

/// `#[async_trait] impl $port for $wrapper`: each method listed passes straight to
/// `self.$inner`; the ones after `faulty:` are written out.
macro_rules! passing_to {
    ($inner:ident: impl $port:ident for $wrapper:ty {
        $(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*
        faulty: $($faulty:tt)*
    }) => {
        #[async_trait]
        impl $port for $wrapper {
            $(async fn $name(&self $(, $arg: $ty)*) -> $ret {
                $port::$name(&*self.$inner $(, $arg)*).await
            })*
            $($faulty)*
        }
    };
}

/// The embedded store's documents, but listing a tenant's rules fails while `faults`
/// say so: the orchestrator cannot load its rules, so the drain fails after the Tape.
struct RulesFail {
    store: Arc<EmbeddedStore>,
    faults: Arc<Faults>,
}

type Rows = Vec<(String, Document)>;

passing_to! { store: impl DocumentStore for RulesFail {
    fn get(&self, pk: &str, sk: &str) -> Result<Option<Document>, StoreError>;
    fn put(&self, pk: &str, sk: &str, body: &str, e: Expect) -> Result<bool, StoreError>;
    fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError>;
    fn list_page(&self, pk: &str, after: Option<&str>, limit: usize) -> Result<Rows, StoreError>;
    fn put_many(&self, pk: &str, puts: &[(String, String)], deletes: &[String])
        -> Result<(), StoreError>;
    fn put_many_deferred(&self, pk: &str, puts: Vec<(String, String)>, deletes: Vec<String>)
        -> Result<(), StoreError>;
    fn write_limited(&self, limit: &Limit, write: LimitedWrite<'_>)
        -> Result<LimitedOutcome, StoreError>;
    faulty:
    async fn list(&self, pk: &str) -> Result<Rows, StoreError> {
        if pk == cjaas_core::rules::keys::rules(&dev()) {
            self.faults.check("the rules")?;
        }
        DocumentStore::list(&*self.store, pk).await
    }
}}

/// The archive directory, but writing an object fails while `faults` say so.
struct ArchiveFails {
    archive: Arc<dyn Archive>,
    faults: Arc<Faults>,
}

passing_to! { archive: impl Archive for ArchiveFails {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    faulty:
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.faults.check("the archive")?;
        self.archive.put(key, bytes).await
    }
}}

/// The embedded default's adapters with the rules' documents and the archive behind
/// fault switches.
struct Faulty {
    inner: LocalAdapters,
    rules: Arc<Faults>,
    archive: Arc<Faults>,
}

/// Adapter getters that pass straight to `self.inner`.
macro_rules! from_inner {
    ($($name:ident -> $ty:ty;)*) => {
        $(fn $name(&self) -> Result<$ty, Infallible> {
            self.inner.$name()
        })*
    };
}

impl Adapters for Faulty {
    type Error = Infallible;
    from_inner! {
        tape -> Arc<dyn TapeStore>;
        config -> Arc<dyn ConfigStore>;
        stream -> Arc<dyn EventStream>;
        dead_letters -> Arc<dyn DeadLetterSink>;
        bus -> Arc<dyn EventBus>;
        forwarder -> Arc<dyn Forwarder>;
        keys -> SigningKeys;
        targets -> TargetPolicy;
    }
    fn event_log(&self) -> Option<Arc<dyn EventLog>> {
        self.inner.event_log()
    }
    fn docs(&self) -> Result<Arc<dyn DocumentStore>, Infallible> {
        Ok(Arc::new(RulesFail {
            store: self.inner.store.clone(),
            faults: self.rules.clone(),
        }))
    }
    fn archive(&self) -> Result<Arc<dyn Archive>, Infallible> {
        Ok(Arc::new(ArchiveFails {
            archive: self.inner.archive()?,
            faults: self.archive.clone(),
        }))
    }
}

fn dev() -> TenantId {
    TenantId::parse(DEV_TENANT).unwrap()
}

fn event(id: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": "page.viewed",
           "person": "ana", "time": format!("2026-12-01T10:00:0{}Z", &id[1..])})
}

struct Running {
    base: String,
    token: String,
    http: reqwest::Client,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn post(&self, ids: &[&str]) {
        let events: Vec<Value> = ids.iter().map(|id| event(id)).collect();
        let response = self
            .http
            .post(format!("{}/v1/events", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/cloudevents-batch+json")
            .body(Value::from(events).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }

    async fn journey(&self) -> Vec<String> {
        let body: Value = self
            .http
            .get(format!("{}/v1/persons/ana/events", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Follows the tenant's live stream over SSE, from now.
    async fn follow(&self) -> impl Stream<Item = String> + Unpin {
        let url = format!("{}/v1/stream?access_token={}", self.base, self.token);
        let response = self.http.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        Box::pin(response.bytes_stream().eventsource().filter_map(|e| {
            let e = e.expect("well-formed SSE");
            let id = (e.event == "cloudevent").then(|| {
                let body: Value = serde_json::from_str(&e.data).unwrap();
                body["id"].as_str().unwrap().to_owned()
            });
            async move { id }
        }))
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        self.server.await.unwrap().unwrap();
    }
}

/// The local server on `store`, its poller built on `faulty` adapters.
async fn serve(store: EmbeddedStore, rules: Arc<Faults>, archive: Arc<Faults>) -> Running {
    let mut app = LocalApp::new(store.clone()).unwrap();
    app.ensure_dev_tenant().await.unwrap();
    let faulty = Wiring(Faulty {
        inner: LocalAdapters::new(store.clone(), TargetPolicy::public_only()).unwrap(),
        rules,
        archive,
    });
    let Ok(writer) = faulty.tape_writer();
    let Ok(archiver) = faulty.archiver();
    let Ok(orchestrator) = faulty.orchestrator();
    app.poller = LocalPoller::new(
        store,
        Arc::new(writer),
        Arc::new(archiver),
        Arc::new(orchestrator),
        app.live.clone(),
    )
    .with_audiences(app.jobs.membership().unwrap());
    let token = app.dev_token();
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, shutdown) = watch::channel(false);
    let server = tokio::spawn(app.serve(listener, shutdown));
    Running {
        base,
        token,
        http: reqwest::Client::new(),
        stop,
        server,
    }
}

/// Opens the store again once the stopped server's last blocking store call, which
/// a cancelled request can leave running for a moment, has let go of the file.
async fn reopen(dir: &std::path::Path) -> EmbeddedStore {
    for _ in 0..100 {
        match EmbeddedStore::open(dir) {
            Err(redb::Error::DatabaseAlreadyOpen) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            opened => return opened.expect("the store opens again"),
        }
    }
    panic!("the stopped server still holds the store after 5 s");
}

async fn next(follower: &mut (impl Stream<Item = String> + Unpin), n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let id = tokio::time::timeout(Duration::from_secs(20), follower.next())
            .await
            .expect("a live event in time")
            .expect("the stream stays open");
        got.push(id);
    }
    got
}

async fn drained(store: &EmbeddedStore) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !store.read_stream(1).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the stream never drained");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Three events whose drain fails twice after the Tape write (`arm` picks the step),
/// then a marker event: the follower sees each once, in order; the Tape holds each
/// once; the live log and the Tape keep them across a restart.
async fn failing_drains_lose_and_repeat_nothing(arm: impl Fn(&Faults, &Faults)) {
    let dir = tempfile::tempdir().unwrap();
    let (rules, archive) = (Arc::new(Faults::default()), Arc::new(Faults::default()));
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let server = serve(store.clone(), rules.clone(), archive.clone()).await;
    let mut follower = server.follow().await;

    arm(&rules, &archive);
    server.post(&["e1", "e2", "e3"]).await;
    assert_eq!(next(&mut follower, 3).await, ["e1", "e2", "e3"]);
    drained(&store).await;
    let made = rules.made.load(Ordering::SeqCst) + archive.made.load(Ordering::SeqCst);
    assert_eq!(
        made, 2,
        "two drains failed after the Tape write, then one passed"
    );

    server.post(&["e4"]).await;
    assert_eq!(
        next(&mut follower, 1).await,
        ["e4"],
        "the retried drains sent nothing twice"
    );
    drained(&store).await;
    assert_eq!(server.journey().await, ["e1", "e2", "e3", "e4"]);
    let ana = PersonId::parse("ana").unwrap();
    assert_eq!(
        store.count(&dev(), &ana).await.unwrap(),
        4,
        "one entry each"
    );
    server.stop().await;
    drop(store);

    // A restart keeps the Tape and the live log, each event once.
    let store = reopen(dir.path()).await;
    assert_eq!(store.count(&dev(), &ana).await.unwrap(), 4);
    let live: Vec<Value> = store
        .live_after(&dev(), 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, _, _, _, event)| serde_json::from_str(&event).unwrap())
        .collect();
    let ids: Vec<&str> = live.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["e1", "e2", "e3", "e4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orchestrator_failure_after_the_tape_loses_no_live_event_and_duplicates_none() {
    failing_drains_lose_and_repeat_nothing(|rules, _| rules.arm(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_failure_after_the_tape_loses_no_live_event_and_duplicates_none() {
    failing_drains_lose_and_repeat_nothing(|_, archive| archive.arm(2)).await;
}
