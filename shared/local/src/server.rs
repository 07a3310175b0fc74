//! The local server: every HTTP route of the API Lambdas in one process, on the
//! embedded store, with bearer tokens checked by the same code as the Lambda authorizer.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

use cjaas_app::admin::{Admin, KeyView};
use cjaas_app::archive::Replayer;
use cjaas_app::http::{live_routes, require_bearer, with_edge_headers, with_problem_fallback};
use cjaas_app::jobs::Jobs;
use cjaas_app::wiring::Wiring;
use cjaas_core::auth::SigningKeys;
use cjaas_core::ids::TenantId;
use cjaas_core::target::TargetPolicy;

use crate::adapters::LocalAdapters;
use crate::live::LocalLive;
use crate::poller::LocalPoller;
use crate::scheduler::{LocalBus, Scheduler};
use crate::{DirArchive, EmbeddedStore};

/// The tenant the embedded default makes on its first start.
pub const DEV_TENANT: &str = "dev";

/// Everything the local server runs, wired to one store.
pub struct LocalApp {
    pub store: EmbeddedStore,
    pub keys: SigningKeys,
    pub admin: Arc<Admin>,
    pub replayer: Arc<Replayer>,
    /// Every job a schedule, a bus message or an operator command triggers.
    pub jobs: Arc<Jobs<LocalAdapters>>,
    pub router: Router,
    pub poller: LocalPoller,
    pub bus: LocalBus,
    pub live: LocalLive,
    pub archive: Arc<DirArchive>,
    /// How often the analytics job runs for every tenant.
    pub analytics_every: std::time::Duration,
}

/// The analytics timer when `CJAAS_ANALYTICS_EVERY_SECONDS` is not set.
pub const DEFAULT_ANALYTICS_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

impl LocalApp {
    /// The local server calling public webhook and enrichment targets only.
    pub fn new(store: EmbeddedStore) -> Result<Self, redb::Error> {
        Self::with_targets(store, TargetPolicy::public_only())
    }

    /// The local server calling the targets `targets` allows (`--allow-private-targets`
    /// also allows loopback and private networks, for development receivers).
    pub fn with_targets(store: EmbeddedStore, targets: TargetPolicy) -> Result<Self, redb::Error> {
        let adapters = LocalAdapters::new(store.clone(), targets)?;
        let (keys, bus, archive) = (
            adapters.keys.clone(),
            adapters.bus.clone(),
            adapters.archive.clone(),
        );
        let wiring = Wiring(adapters);
        let Ok(auth) = wiring.authenticator().map(Arc::new);
        let Ok(writer) = wiring.tape_writer().map(Arc::new);
        let Ok(archiver) = wiring.archiver().map(Arc::new);
        let Ok(orchestrator) = wiring.orchestrator().map(Arc::new);
        let Ok(operations) = wiring.operations();
        let Ok(browser) = wiring.ingest_router(|events| require_bearer(events, auth.clone()));
        let Ok(api) = wiring.api_router();
        let live = LocalLive::new(store.clone());
        let api = api.merge(live_routes(Arc::new(live.clone())));
        let router = with_edge_headers(with_problem_fallback(
            Router::new()
                .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
                .merge(browser)
                .merge(require_bearer(api, auth)),
        ));
        let jobs = Arc::new(wiring.jobs());
        let membership = jobs
            .membership()
            .expect("the embedded store has every resource");
        Ok(Self {
            poller: LocalPoller::new(store.clone(), writer, archiver, orchestrator, live.clone())
                .with_audiences(membership),
            store,
            keys,
            admin: operations.admin.clone(),
            replayer: operations.replayer.clone(),
            jobs,
            router,
            bus,
            live,
            archive,
            analytics_every: DEFAULT_ANALYTICS_EVERY,
        })
    }

    /// Makes the `dev` tenant on first start and returns its first API key, once.
    pub async fn ensure_dev_tenant(&self) -> Result<Option<KeyView>, cjaas_app::admin::AdminError> {
        let dev = TenantId::parse(DEV_TENANT).expect("a valid tenant id");
        if self.store.tenant_records().await?.is_empty() {
            return self.admin.create_tenant(&dev).await.map(Some);
        }
        Ok(None)
    }

    /// A fresh all-scope token for the `dev` tenant, valid for 24 hours.
    pub fn dev_token(&self) -> String {
        let dev = TenantId::parse(DEV_TENANT).expect("a valid tenant id");
        let scopes = cjaas_core::auth::Scope::ALL;
        let ttl = cjaas_core::auth::MAX_TOKEN_TTL;
        self.keys
            .sign_token(&dev, &scopes, ttl, chrono::Utc::now())
            .0
    }

    /// Serves HTTP on `listener` and drains the stream until `shutdown` turns true.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        let poller = tokio::spawn(self.poller.run(shutdown.clone()));
        let scheduler = Scheduler {
            jobs: self.jobs,
            analytics_every: self.analytics_every,
        };
        let scheduler = tokio::spawn(scheduler.run(self.bus.subscribe(), shutdown.clone()));
        let mut http_shutdown = shutdown;
        let live = self.live;
        axum::serve(listener, self.router)
            .with_graceful_shutdown(async move {
                let _ = http_shutdown.wait_for(|stop| *stop).await;
                live.close();
            })
            .await?;
        let _ = poller.await;
        let _ = scheduler.await;
        Ok(())
    }
}

/// Binds `addr`, reporting a clear error when the port is taken.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr}: {e} (set CJAAS_ADDR or --addr)"),
        )
    })
}
