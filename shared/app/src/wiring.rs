//! The object graph, built in one place and generic over the ports. The embedded
//! default (`cjaas_local::server`) and AWS (`cjaas_aws::wiring`) only supply
//! [`Adapters`]; everything above them is wired here.
//!
//! AWS adapters are named by settings a function may not have (each function is
//! given only the resources it uses), so every adapter is fallible: asking for one
//! whose name is missing fails at start-up, naming the variable.

use axum::Router;
use std::sync::Arc;

use cjaas_core::auth::SigningKeys;
use cjaas_core::ports::{
    Archive, ConfigStore, DeadLetterSink, DocumentStore, EventBus, EventLog, EventStream,
    Forwarder, TapeStore,
};
use cjaas_core::target::TargetPolicy;

use crate::actions::ActionRunner;
use crate::admin::Admin;
use crate::analytics::Analytics;
use crate::archive::{ArchiveRetention, Archiver, Replayer};
use crate::audiences::{Audiences, Membership};
use crate::auth::Authenticator;
use crate::browser::BrowserGuard;
use crate::dead_letters::DeadLetters;
use crate::decode_only::NoDeadLetters;
use crate::deliveries::DeliveryLog;
use crate::erasure::{Erasures, Stores};
use crate::forwarding::Forwarding;
use crate::http::{
    admin_routes, analytics_routes, asset_routes, audience_routes, backtest_routes, browser_routes,
    dead_letter_routes, delivery_routes, erasure_routes, forwarding_routes, ingest_routes,
    profile_routes, query_routes, rule_routes, tag_routes, AudienceApi, ProfileApi,
};
use crate::ingest::{Ingestor, RetryPolicy};
use crate::jobs::{AnalyticsJob, Backtests, Jobs, Maintenance, Operations};
use crate::orchestration::{Orchestrator, Policies, Rules};
use crate::profiles::{Aliases, Journeys, Profiles, Views};
use crate::tombstones::Tombstones;
use crate::tracking::Tracking;
use crate::writer::TapeWriter;

/// What a deployment plugs into the ports.
pub trait Adapters: Send + Sync + 'static {
    /// Why an adapter cannot be made (a missing setting); `Infallible` locally.
    type Error: std::fmt::Display;

    fn tape(&self) -> Result<Arc<dyn TapeStore>, Self::Error>;
    fn docs(&self) -> Result<Arc<dyn DocumentStore>, Self::Error>;
    fn config(&self) -> Result<Arc<dyn ConfigStore>, Self::Error>;
    fn stream(&self) -> Result<Arc<dyn EventStream>, Self::Error>;
    fn dead_letters(&self) -> Result<Arc<dyn DeadLetterSink>, Self::Error>;
    fn archive(&self) -> Result<Arc<dyn Archive>, Self::Error>;
    fn bus(&self) -> Result<Arc<dyn EventBus>, Self::Error>;
    fn forwarder(&self) -> Result<Arc<dyn Forwarder>, Self::Error>;
    fn keys(&self) -> Result<SigningKeys, Self::Error>;
    /// Which webhook and enrichment targets rules may name and actions may call.
    fn targets(&self) -> Result<TargetPolicy, Self::Error>;
    /// The logs kept beside the Tape that erasure rewrites (embedded only).
    fn event_log(&self) -> Option<Arc<dyn EventLog>> {
        None
    }
    /// How long erasure tombstones last; `None`: the default.
    fn tombstone_ttl(&self) -> Result<Option<chrono::Duration>, Self::Error> {
        Ok(None)
    }
}

/// Builds each service from the adapters. Each call builds a new one: a caller that
/// shares a service keeps its `Arc`.
#[derive(Clone)]
pub struct Wiring<A>(pub A);

type Built<T, A> = Result<T, <A as Adapters>::Error>;

impl<A: Adapters> Wiring<A> {
    pub fn authenticator(&self) -> Built<Authenticator, A> {
        Ok(Authenticator::new(self.0.config()?, self.0.keys()?))
    }

    pub fn admin(&self) -> Built<Admin, A> {
        Ok(Admin::new(self.0.config()?, self.0.keys()?))
    }

    pub fn ingestor(&self) -> Built<Arc<Ingestor>, A> {
        let retry = RetryPolicy::default();
        Ok(Arc::new(Ingestor::new(
            self.0.stream()?,
            self.0.keys()?,
            retry,
        )))
    }

    fn tombstones(&self) -> Built<Tombstones, A> {
        Ok(Tombstones::new(self.0.docs()?))
    }

    pub fn tape_writer(&self) -> Built<TapeWriter, A> {
        let auth = Arc::new(self.authenticator()?);
        let (tape, sink) = (self.0.tape()?, self.0.dead_letters()?);
        Ok(TapeWriter::new(tape, sink, auth, self.0.keys()?).with_tombstones(self.tombstones()?))
    }

    /// The Tape writer's decoder alone, for the functions that read the stream but
    /// never write the Tape (the orchestrator, the live stream): it keeps no dead
    /// letters ([`NoDeadLetters`]), so it needs no dead-letter store.
    pub fn tape_decoder(&self) -> Built<TapeWriter, A> {
        let auth = Arc::new(self.authenticator()?);
        let (tape, sink) = (self.0.tape()?, Arc::new(NoDeadLetters));
        Ok(TapeWriter::new(tape, sink, auth, self.0.keys()?).with_tombstones(self.tombstones()?))
    }

    /// Alias groups, for reading them (journeys, profiles, audiences, rules).
    pub fn aliases(&self) -> Built<Arc<Aliases>, A> {
        Ok(Arc::new(Aliases::new(self.0.docs()?)))
    }

    /// Alias groups for what links and unlinks ids (`POST /v1/persons/{p}/aliases`,
    /// `identify`, `alias`): each change is announced on the bus (`AliasesChanged`)
    /// so audiences evaluate the group. The bus is required: a function without it
    /// fails at start, naming it, instead of linking silently.
    pub fn linking_aliases(&self) -> Built<Arc<Aliases>, A> {
        Ok(Arc::new(
            Aliases::new(self.0.docs()?).with_bus(self.0.bus()?),
        ))
    }

    /// Audience definitions (CRUD), asking for backfills on the bus.
    pub fn audiences(&self) -> Built<Audiences, A> {
        Ok(Audiences::new(self.0.docs()?, self.0.bus()?))
    }

    /// Audience membership: evaluated on events, time checks, alias changes and
    /// backfills; changes appended through ingest and published on the bus.
    pub fn membership(&self) -> Built<Membership, A> {
        Ok(Membership::new(
            self.0.tape()?,
            self.0.docs()?,
            self.0.bus()?,
            self.ingestor()?,
            self.aliases()?,
        ))
    }

    /// Audiences, their members, sizes and backfill status.
    pub fn audience_router(&self) -> Built<Router, A> {
        let api = AudienceApi {
            audiences: self.audiences()?,
            membership: Arc::new(self.membership()?),
        };
        Ok(audience_routes(Arc::new(api)))
    }

    pub fn profile_api(&self) -> Built<ProfileApi, A> {
        let aliases = self.linking_aliases()?;
        Ok(ProfileApi {
            views: Views::new(self.0.docs()?),
            profiles: Profiles::new(self.0.tape()?, self.0.docs()?, aliases.clone()),
            aliases,
        })
    }

    pub fn journeys(&self) -> Built<Journeys, A> {
        Ok(Journeys::new(self.0.tape()?, self.aliases()?))
    }

    pub fn analytics(&self) -> Built<Analytics, A> {
        Ok(Analytics::new(
            self.0.tape()?,
            self.0.docs()?,
            self.0.bus()?,
        ))
    }

    pub fn analytics_job(&self) -> Built<AnalyticsJob, A> {
        Ok(AnalyticsJob {
            analytics: Arc::new(self.analytics()?),
            config: self.0.config()?,
        })
    }

    pub fn erasures(&self) -> Built<Erasures, A> {
        let erasures = Erasures::new(Stores {
            tape: self.0.tape()?,
            docs: self.0.docs()?,
            dead_letters: self.0.dead_letters()?,
            archive: self.0.archive()?,
            bus: self.0.bus()?,
            log: self.0.event_log(),
        });
        Ok(match self.0.tombstone_ttl()? {
            Some(ttl) => erasures.with_tombstone_ttl(ttl),
            None => erasures,
        })
    }

    pub fn forwarding(&self) -> Built<Forwarding, A> {
        let (docs, archive) = (self.0.docs()?, self.0.archive()?);
        Ok(Forwarding::new(docs, archive, self.0.forwarder()?))
    }

    pub fn archive_retention(&self) -> Built<ArchiveRetention, A> {
        Ok(ArchiveRetention::new(self.0.archive()?, self.0.config()?))
    }

    /// Every trigger's jobs (schedules, bus messages, operator commands).
    pub fn jobs(self) -> Jobs<A> {
        Jobs::new(self)
    }

    /// The maintenance sweep and the erasure jobs.
    pub fn maintenance(&self) -> Built<Maintenance, A> {
        Ok(Maintenance {
            erasures: Arc::new(self.erasures()?),
            retention: Arc::new(self.archive_retention()?),
            forwarding: Arc::new(self.forwarding()?),
            config: self.0.config()?,
            tape: self.0.tape()?,
            docs: self.0.docs()?,
        })
    }

    /// Decodes records as the Tape writer does, writes them to the archive, then
    /// forwards them to tenants' destinations.
    pub fn archiver(&self) -> Built<Archiver, A> {
        Ok(
            Archiver::new(Arc::new(self.tape_writer()?), self.0.archive()?)
                .with_forwarding(Arc::new(self.forwarding()?))
                .with_tombstones(self.tombstones()?),
        )
    }

    pub fn replayer(&self) -> Built<Replayer, A> {
        Ok(Replayer::new(
            self.0.archive()?,
            self.ingestor()?,
            self.tombstones()?,
        ))
    }

    /// The operator commands.
    pub fn operations(&self) -> Built<Operations, A> {
        Ok(Operations {
            admin: Arc::new(self.admin()?),
            replayer: Arc::new(self.replayer()?),
        })
    }

    pub fn orchestrator(&self) -> Built<Orchestrator, A> {
        let docs = self.0.docs()?;
        let profiles = Profiles::new(self.0.tape()?, docs.clone(), self.aliases()?);
        Ok(Orchestrator::new(
            self.0.tape()?,
            docs.clone(),
            self.0.bus()?,
            Views::new(docs),
            profiles,
        ))
    }

    /// Calls out, appends through ingest, dead-letters what it cannot deliver.
    pub fn action_runner(&self) -> Built<ActionRunner, A> {
        let (docs, sink) = (self.0.docs()?, self.0.dead_letters()?);
        Ok(ActionRunner::new(docs, self.ingestor()?, sink).with_targets(self.0.targets()?))
    }

    /// A tenant's dead letters: listed, and redriven onto the stream (records,
    /// rechecked by the Tape writer's own code) or the bus (actions).
    pub fn dead_letters(&self) -> Built<DeadLetters, A> {
        Ok(DeadLetters::new(
            self.0.dead_letters()?,
            self.0.stream()?,
            self.0.bus()?,
            Arc::new(self.tape_writer()?),
        ))
    }

    pub fn tracking(&self, auth: Arc<Authenticator>) -> Built<Tracking, A> {
        let guard = Arc::new(BrowserGuard::new(self.0.docs()?));
        Ok(Tracking::new(
            auth,
            self.ingestor()?,
            self.linking_aliases()?,
            guard,
        ))
    }

    /// `POST /v1/events` behind `principal` (the authorizer's context, or the
    /// bearer check), and the tracking API and CORS preflights, which verify their
    /// own write keys; with the public static files, which take no credential: the
    /// browser tag that posts to them, and the console, components and docs.
    pub fn ingest_router(&self, principal: impl Fn(Router) -> Router) -> Built<Router, A> {
        Ok(self
            .ingest_function_router(principal)?
            .merge(asset_routes()))
    }

    /// The `ingest` function's routes: [`Self::ingest_router`] but the console,
    /// components and docs, which the `console` function serves.
    pub fn ingest_function_router(&self, principal: impl Fn(Router) -> Router) -> Built<Router, A> {
        let tracking = Arc::new(self.tracking(Arc::new(self.authenticator()?))?);
        Ok(
            browser_routes(ingest_routes(self.ingestor()?), principal, tracking)
                .merge(tag_routes()),
        )
    }

    pub fn query_router(&self) -> Built<Router, A> {
        Ok(query_routes(Arc::new(self.journeys()?)))
    }

    /// Views, profiles and aliases.
    pub fn profile_router(&self) -> Built<Router, A> {
        Ok(profile_routes(Arc::new(self.profile_api()?)))
    }

    /// Rule backtests: requested over HTTP, run by a worker (see [`crate::jobs`]).
    pub fn backtests(&self) -> Built<Backtests, A> {
        let docs = self.0.docs()?;
        let profiles = Profiles::new(self.0.tape()?, docs.clone(), self.aliases()?);
        Ok(Backtests::new(
            self.0.tape()?,
            docs.clone(),
            self.0.bus()?,
            Views::new(docs),
            profiles,
        ))
    }

    /// Rules, their delivery logs, backtests and the orchestration policy.
    pub fn rules_router(&self) -> Built<Router, A> {
        let docs = self.0.docs()?;
        let rules = Rules::with_targets(docs.clone(), self.0.targets()?);
        let backtests = backtest_routes(
            Arc::new(self.backtests()?),
            Arc::new(Policies::new(docs.clone())),
        );
        Ok(rule_routes(Arc::new(rules))
            .merge(delivery_routes(Arc::new(DeliveryLog::new(docs))))
            .merge(backtests))
    }

    pub fn admin_router(&self) -> Built<Router, A> {
        Ok(admin_routes(Arc::new(self.admin()?)))
    }

    pub fn analytics_router(&self) -> Built<Router, A> {
        Ok(analytics_routes(Arc::new(self.analytics()?)))
    }

    pub fn erasure_router(&self) -> Built<Router, A> {
        Ok(erasure_routes(Arc::new(self.erasures()?)))
    }

    pub fn forwarding_router(&self) -> Built<Router, A> {
        Ok(forwarding_routes(Arc::new(self.forwarding()?)))
    }

    pub fn dead_letter_router(&self) -> Built<Router, A> {
        Ok(dead_letter_routes(Arc::new(self.dead_letters()?)))
    }

    /// The `admin-api` function's routes: keys and tokens, erasure, forwarding and
    /// dead letters.
    pub fn admin_api_router(&self) -> Built<Router, A> {
        Ok(self
            .admin_router()?
            .merge(self.erasure_router()?)
            .merge(self.forwarding_router()?)
            .merge(self.dead_letter_router()?))
    }

    /// Every API route that sits behind the principal check (the authorizer in
    /// AWS, the bearer check locally), except the live routes, whose feed differs.
    pub fn api_router(&self) -> Built<Router, A> {
        Ok(Router::new()
            .merge(self.admin_api_router()?)
            .merge(self.rules_router()?)
            .merge(self.audience_router()?)
            .merge(self.analytics_router()?)
            .merge(self.query_router()?)
            .merge(self.profile_router()?))
    }
}
