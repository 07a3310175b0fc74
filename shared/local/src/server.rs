//! The local server: every HTTP route of the API Lambdas in one process, on the
//! embedded store, with bearer tokens checked by the same code as the Lambda authorizer.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

use cjaas_app::actions::ActionRunner;
use cjaas_app::admin::{Admin, KeyView};
use cjaas_app::analytics::Analytics;
use cjaas_app::archive::{ArchiveRetention, Archiver, Replayer};
use cjaas_app::auth::Authenticator;
use cjaas_app::browser::BrowserGuard;
use cjaas_app::dead_letters::DeadLetters;
use cjaas_app::deliveries::DeliveryLog;
use cjaas_app::erasure::{Erasures, Stores};
use cjaas_app::forwarding::Forwarding;
use cjaas_app::http::{
    admin_routes, analytics_routes, asset_routes, browser_routes, dead_letter_routes,
    delivery_routes, erasure_routes, forwarding_routes, ingest_routes, live_routes, profile_routes,
    query_routes, require_bearer, rule_routes, tag_routes, with_edge_headers,
    with_problem_fallback, ProfileApi,
};
use cjaas_app::ingest::{Ingestor, RetryPolicy};
use cjaas_app::orchestration::{Orchestrator, Rules};
use cjaas_app::profiles::{Aliases, Journeys, Profiles, Views};
use cjaas_app::tombstones::Tombstones;
use cjaas_app::tracking::Tracking;
use cjaas_app::writer::TapeWriter;
use cjaas_core::auth::SigningKeys;
use cjaas_core::ids::TenantId;
use cjaas_core::target::TargetPolicy;

use crate::live::LocalLive;
use crate::poller::LocalPoller;
use crate::scheduler::{LocalBus, Scheduler};
use crate::{DirArchive, EmbeddedStore, LocalForwarder};

/// The tenant the embedded default makes on its first start.
pub const DEV_TENANT: &str = "dev";

/// Everything the local server runs, wired to one store.
pub struct LocalApp {
    pub store: EmbeddedStore,
    pub keys: SigningKeys,
    pub admin: Arc<Admin>,
    pub router: Router,
    pub poller: LocalPoller,
    pub bus: LocalBus,
    pub analytics: Arc<Analytics>,
    pub erasures: Arc<Erasures>,
    pub forwarding: Arc<Forwarding>,
    pub orchestrator: Arc<Orchestrator>,
    pub actions: Arc<ActionRunner>,
    pub live: LocalLive,
    pub archive: Arc<DirArchive>,
    pub replayer: Arc<Replayer>,
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
        let keys = store.signing_keys()?;
        let shared = Arc::new(store.clone());
        let auth = Arc::new(Authenticator::new(shared.clone(), keys.clone()));
        let admin = Arc::new(Admin::new(shared.clone(), keys.clone()));
        let ingestor = Arc::new(Ingestor::new(
            shared.clone(),
            keys.clone(),
            RetryPolicy::default(),
        ));
        let archive = Arc::new(DirArchive::new(store.dir().join("archive")));
        let writer = Arc::new(
            TapeWriter::new(shared.clone(), shared.clone(), auth.clone(), keys.clone())
                .with_tombstones(Tombstones::new(shared.clone())),
        );
        let aliases = Arc::new(Aliases::new(shared.clone()));
        let profiles = Arc::new(ProfileApi {
            views: Views::new(shared.clone()),
            aliases: aliases.clone(),
            profiles: Profiles::new(shared.clone(), shared.clone(), aliases.clone()),
        });
        let bus = LocalBus::default();
        let analytics = Arc::new(Analytics::new(
            shared.clone(),
            shared.clone(),
            Arc::new(bus.clone()),
        ));
        let erasures = Arc::new(Erasures::new(Stores {
            tape: shared.clone(),
            docs: shared.clone(),
            dead_letters: shared.clone(),
            archive: archive.clone(),
            bus: Arc::new(bus.clone()),
            log: Some(shared.clone()),
        }));
        let replayer = Arc::new(Replayer::new(
            archive.clone(),
            ingestor.clone(),
            Tombstones::new(shared.clone()),
        ));
        let orchestrator = Arc::new(Orchestrator::new(
            shared.clone(),
            shared.clone(),
            Arc::new(bus.clone()),
        ));
        let actions = Arc::new(
            ActionRunner::new(shared.clone(), ingestor.clone(), shared.clone())
                .with_targets(targets.clone()),
        );
        let rules = Arc::new(Rules::with_targets(shared.clone(), targets));
        let live = LocalLive::new(store.clone());
        let forwarding = Arc::new(Forwarding::new(
            shared.clone(),
            archive.clone(),
            Arc::new(LocalForwarder),
        ));
        let archiver = Arc::new(
            Archiver::new(writer.clone(), archive.clone())
                .with_forwarding(forwarding.clone())
                .with_tombstones(Tombstones::new(shared.clone())),
        );
        let dead_letters = Arc::new(DeadLetters::new(
            shared.clone(),
            shared.clone(),
            Arc::new(bus.clone()),
            writer.clone(),
        ));
        let tracking = Arc::new(Tracking::new(
            auth.clone(),
            ingestor.clone(),
            aliases.clone(),
            Arc::new(BrowserGuard::new(shared.clone())),
        ));
        let browser = browser_routes(
            ingest_routes(ingestor),
            |events| require_bearer(events, auth.clone()),
            tracking,
        );
        let api = Router::new()
            .merge(delivery_routes(Arc::new(DeliveryLog::new(shared.clone()))))
            .merge(dead_letter_routes(dead_letters))
            .merge(erasure_routes(erasures.clone()))
            .merge(forwarding_routes(forwarding.clone()))
            .merge(rule_routes(rules))
            .merge(live_routes(Arc::new(live.clone())))
            .merge(analytics_routes(analytics.clone()))
            .merge(query_routes(Arc::new(Journeys::new(shared, aliases))))
            .merge(profile_routes(profiles))
            .merge(admin_routes(admin.clone()));
        let router = with_edge_headers(with_problem_fallback(
            Router::new()
                .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
                .merge(browser)
                .merge(tag_routes())
                .merge(asset_routes())
                .merge(require_bearer(api, auth)),
        ));
        Ok(Self {
            poller: LocalPoller::new(
                store.clone(),
                writer,
                archiver,
                orchestrator.clone(),
                live.clone(),
            ),
            store,
            keys,
            admin,
            router,
            bus,
            analytics,
            erasures,
            forwarding,
            orchestrator,
            actions,
            live,
            archive,
            replayer,
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
            analytics: self.analytics,
            erasures: self.erasures,
            forwarding: self.forwarding,
            orchestrator: self.orchestrator,
            actions: self.actions,
            retention: ArchiveRetention::new(self.archive, Arc::new(self.store.clone())),
            store: self.store.clone(),
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
