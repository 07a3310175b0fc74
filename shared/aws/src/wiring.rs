//! Builds each function's handler from SDK clients and settings. The Lambda binaries
//! call these with values from the environment; tests call them with their own.

use aws_config::SdkConfig;
use axum::Router;
use std::sync::Arc;

use cjaas_app::actions::ActionRunner;
use cjaas_app::admin::Admin;
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
use cjaas_core::target::TargetPolicy;

use crate::lambda::{with_authorizer_principal, Operations};
use crate::settings::s3_client;
use crate::{
    AwsForwarder, DynamoConfigStore, DynamoDocumentStore, DynamoTapeStore, EventBridgeBus,
    KinesisEventStream, KinesisTail, S3Archive, S3DeadLetters, S3Objects,
};

fn config_store(sdk: &SdkConfig, table: &str) -> Arc<DynamoConfigStore> {
    Arc::new(DynamoConfigStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        table.to_owned(),
    ))
}

pub fn authenticator(sdk: &SdkConfig, config_table: &str, keys: SigningKeys) -> Authenticator {
    Authenticator::new(config_store(sdk, config_table), keys)
}

pub fn admin(sdk: &SdkConfig, config_table: &str, keys: SigningKeys) -> Admin {
    Admin::new(config_store(sdk, config_table), keys)
}

fn ingestor(sdk: &SdkConfig, stream: &str, keys: SigningKeys) -> Arc<Ingestor> {
    let stream = KinesisEventStream::new(aws_sdk_kinesis::Client::new(sdk), stream.to_owned());
    Arc::new(Ingestor::new(
        Arc::new(stream),
        keys,
        RetryPolicy::default(),
    ))
}

/// The `ingest` function: `POST /v1/events` behind the authorizer, and the tracking
/// API and the CORS preflights, which have no authorizer (the function verifies write
/// keys itself, from HTTP Basic or the body), and `GET /v1/tag.js`, the browser tag
/// that posts to them. Without a fallback: the caller adds it.
pub fn ingest_router(
    sdk: &SdkConfig,
    stream: &str,
    config_table: &str,
    keys: SigningKeys,
) -> Router {
    let ingestor = ingestor(sdk, stream, keys.clone());
    let tracking = Tracking::new(
        Arc::new(authenticator(sdk, config_table, keys)),
        ingestor.clone(),
        aliases(sdk, config_table),
        Arc::new(BrowserGuard::new(document_store(sdk, config_table))),
    );
    browser_routes(
        ingest_routes(ingestor),
        with_authorizer_principal,
        Arc::new(tracking),
    )
    .merge(tag_routes())
    .merge(asset_routes()) // the console, components and docs: no authorizer
}

fn archive_store(sdk: &SdkConfig, bucket: &str) -> Arc<S3Archive> {
    Arc::new(S3Archive(S3Objects::new(s3_client(sdk), bucket.to_owned())))
}

fn bus(sdk: &SdkConfig, name: &str) -> Arc<EventBridgeBus> {
    Arc::new(EventBridgeBus::new(
        aws_sdk_eventbridge::Client::new(sdk),
        name.to_owned(),
    ))
}

/// The `archiver` function: decodes records as the Tape writer does, writes to S3,
/// then forwards to tenants' destinations.
pub fn archiver(sdk: &SdkConfig, writer: TapeWriterSettings<'_>, archive_bucket: &str) -> Archiver {
    let forwarding = forwarding(
        sdk,
        &ForwardingSettings {
            config_table: writer.config_table,
            archive_bucket,
            dead_letter_bucket: writer.dead_letter_bucket,
        },
    );
    let tombstones = Tombstones::new(document_store(sdk, writer.config_table));
    Archiver::new(
        Arc::new(tape_writer(sdk, writer)),
        archive_store(sdk, archive_bucket),
    )
    .with_forwarding(forwarding)
    .with_tombstones(tombstones)
}

/// Forwarding reads the archive; the deployment's own buckets are never destinations.
pub struct ForwardingSettings<'a> {
    pub config_table: &'a str,
    pub archive_bucket: &'a str,
    pub dead_letter_bucket: &'a str,
}

pub fn forwarding(sdk: &SdkConfig, settings: &ForwardingSettings<'_>) -> Arc<Forwarding> {
    let forwarder = AwsForwarder::new(
        s3_client(sdk),
        aws_sdk_eventbridge::Client::new(sdk),
        vec![
            settings.archive_bucket.to_owned(),
            settings.dead_letter_bucket.to_owned(),
        ],
    );
    Arc::new(Forwarding::new(
        document_store(sdk, settings.config_table),
        archive_store(sdk, settings.archive_bucket),
        Arc::new(forwarder),
    ))
}

pub fn forwarding_router(sdk: &SdkConfig, settings: &ForwardingSettings<'_>) -> Router {
    forwarding_routes(forwarding(sdk, settings))
}

/// Where erasure looks for a person.
pub struct ErasureSettings<'a> {
    pub tape_table: &'a str,
    pub config_table: &'a str,
    pub dead_letter_bucket: &'a str,
    pub archive_bucket: &'a str,
    pub bus_name: &'a str,
}

pub fn erasures(sdk: &SdkConfig, settings: &ErasureSettings<'_>) -> Erasures {
    Erasures::new(Stores {
        tape: tape_store(sdk, settings.tape_table),
        docs: document_store(sdk, settings.config_table),
        dead_letters: Arc::new(S3DeadLetters::new(
            s3_client(sdk),
            settings.dead_letter_bucket.to_owned(),
        )),
        archive: archive_store(sdk, settings.archive_bucket),
        bus: bus(sdk, settings.bus_name),
        log: None,
    })
}

pub fn erasure_router(sdk: &SdkConfig, settings: &ErasureSettings<'_>) -> Router {
    erasure_routes(Arc::new(erasures(sdk, settings)))
}

pub fn archive_retention(
    sdk: &SdkConfig,
    config_table: &str,
    archive_bucket: &str,
) -> ArchiveRetention {
    ArchiveRetention::new(
        archive_store(sdk, archive_bucket),
        config_store(sdk, config_table),
    )
}

/// What the `tenant-admin` operator function needs.
pub struct OperationsSettings<'a> {
    pub config_table: &'a str,
    pub stream: &'a str,
    pub archive_bucket: &'a str,
    pub keys: SigningKeys,
}

pub fn operations(sdk: &SdkConfig, settings: OperationsSettings<'_>) -> Operations {
    Operations {
        admin: admin(sdk, settings.config_table, settings.keys.clone()),
        replayer: Replayer::new(
            archive_store(sdk, settings.archive_bucket),
            ingestor(sdk, settings.stream, settings.keys),
            Tombstones::new(document_store(sdk, settings.config_table)),
        ),
    }
}

pub fn tape_store(sdk: &SdkConfig, table: &str) -> Arc<DynamoTapeStore> {
    Arc::new(DynamoTapeStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        table.to_owned(),
    ))
}

fn aliases(sdk: &SdkConfig, config_table: &str) -> Arc<Aliases> {
    Arc::new(Aliases::new(document_store(sdk, config_table)))
}

fn document_store(sdk: &SdkConfig, table: &str) -> Arc<DynamoDocumentStore> {
    Arc::new(DynamoDocumentStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        table.to_owned(),
    ))
}

/// Journeys span aliases, so the query function reads the config table too.
pub fn query_router(sdk: &SdkConfig, tape_table: &str, config_table: &str) -> Router {
    let journeys = Journeys::new(tape_store(sdk, tape_table), aliases(sdk, config_table));
    query_routes(Arc::new(journeys))
}

/// Views, profiles and aliases. Views, aliases and profile snapshots are documents in
/// the config table.
pub fn profile_router(sdk: &SdkConfig, tape_table: &str, config_table: &str) -> Router {
    let docs = document_store(sdk, config_table);
    let aliases = aliases(sdk, config_table);
    profile_routes(Arc::new(ProfileApi {
        views: Views::new(docs.clone()),
        profiles: Profiles::new(tape_store(sdk, tape_table), docs, aliases.clone()),
        aliases,
    }))
}

/// Where analytics reads and writes: the Tape, documents in the config table, and the
/// bus that carries on-demand run requests.
pub struct AnalyticsSettings<'a> {
    pub tape_table: &'a str,
    pub config_table: &'a str,
    pub bus_name: &'a str,
}

pub fn analytics(sdk: &SdkConfig, settings: &AnalyticsSettings<'_>) -> Analytics {
    Analytics::new(
        tape_store(sdk, settings.tape_table),
        document_store(sdk, settings.config_table),
        bus(sdk, settings.bus_name),
    )
}

pub fn analytics_router(sdk: &SdkConfig, settings: &AnalyticsSettings<'_>) -> Router {
    analytics_routes(Arc::new(analytics(sdk, settings)))
}

/// Tenants as the config table lists them, for scheduled jobs.
pub fn tenants(sdk: &SdkConfig, config_table: &str) -> Arc<DynamoConfigStore> {
    config_store(sdk, config_table)
}

pub fn admin_router(sdk: &SdkConfig, config_table: &str, keys: SigningKeys) -> Router {
    admin_routes(Arc::new(admin(sdk, config_table, keys)))
}

pub struct TapeWriterSettings<'a> {
    pub tape_table: &'a str,
    pub config_table: &'a str,
    pub dead_letter_bucket: &'a str,
    pub keys: SigningKeys,
}

pub fn tape_writer(sdk: &SdkConfig, settings: TapeWriterSettings<'_>) -> TapeWriter {
    let tape = DynamoTapeStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        settings.tape_table.to_owned(),
    );
    let dead_letters = S3DeadLetters::new(s3_client(sdk), settings.dead_letter_bucket.to_owned());
    let auth = authenticator(sdk, settings.config_table, settings.keys.clone());
    TapeWriter::new(
        Arc::new(tape),
        Arc::new(dead_letters),
        Arc::new(auth),
        settings.keys,
    )
    .with_tombstones(Tombstones::new(document_store(sdk, settings.config_table)))
}

/// Where orchestration reads rules and the Tape, and publishes actions.
pub struct OrchestrationSettings<'a> {
    pub tape_table: &'a str,
    pub config_table: &'a str,
    pub bus_name: &'a str,
}

pub fn orchestrator(sdk: &SdkConfig, settings: &OrchestrationSettings<'_>) -> Orchestrator {
    Orchestrator::new(
        tape_store(sdk, settings.tape_table),
        document_store(sdk, settings.config_table),
        bus(sdk, settings.bus_name),
    )
}

/// Rules and their delivery logs (documents in the config table).
/// Action URLs must pass `targets` (`settings::target_policy`).
pub fn rules_router(sdk: &SdkConfig, config_table: &str, targets: TargetPolicy) -> Router {
    let docs = document_store(sdk, config_table);
    rule_routes(Arc::new(Rules::with_targets(docs.clone(), targets)))
        .merge(delivery_routes(Arc::new(DeliveryLog::new(docs))))
}

/// A tenant's dead letters (in the `admin-api` function): listed from S3, redriven
/// onto the stream (records, rechecked by the Tape writer's own code) or the bus
/// (actions).
pub struct DeadLetterSettings<'a> {
    pub writer: TapeWriterSettings<'a>,
    pub stream: &'a str,
    pub bus_name: &'a str,
}

pub fn dead_letters(sdk: &SdkConfig, settings: DeadLetterSettings<'_>) -> DeadLetters {
    let sink = S3DeadLetters::new(
        s3_client(sdk),
        settings.writer.dead_letter_bucket.to_owned(),
    );
    let stream = KinesisEventStream::new(
        aws_sdk_kinesis::Client::new(sdk),
        settings.stream.to_owned(),
    );
    DeadLetters::new(
        Arc::new(sink),
        Arc::new(stream),
        bus(sdk, settings.bus_name),
        Arc::new(tape_writer(sdk, settings.writer)),
    )
}

pub fn dead_letter_router(sdk: &SdkConfig, settings: DeadLetterSettings<'_>) -> Router {
    dead_letter_routes(Arc::new(dead_letters(sdk, settings)))
}

/// The `actions` function: calls out, appends through ingest, dead-letters to S3.
pub struct ActionSettings<'a> {
    pub config_table: &'a str,
    pub stream: &'a str,
    pub dead_letter_bucket: &'a str,
    pub keys: SigningKeys,
    /// Which targets calls may reach (`settings::target_policy`).
    pub targets: TargetPolicy,
}

pub fn action_runner(sdk: &SdkConfig, settings: ActionSettings<'_>) -> ActionRunner {
    ActionRunner::new(
        document_store(sdk, settings.config_table),
        ingestor(sdk, settings.stream, settings.keys),
        Arc::new(S3DeadLetters::new(
            s3_client(sdk),
            settings.dead_letter_bucket.to_owned(),
        )),
    )
    .with_targets(settings.targets)
}

/// The `stream` function (a function URL with response streaming, no API Gateway
/// authorizer): the live routes behind the same token check as the local server.
pub fn stream_router(
    sdk: &SdkConfig,
    writer: TapeWriterSettings<'_>,
    stream: &str,
    poll: std::time::Duration,
) -> Router {
    let auth = Arc::new(authenticator(sdk, writer.config_table, writer.keys.clone()));
    let tombstones = Tombstones::new(document_store(sdk, writer.config_table));
    let tail = KinesisTail::new(
        aws_sdk_kinesis::Client::new(sdk),
        stream.to_owned(),
        Arc::new(tape_writer(sdk, writer)),
        tombstones,
        poll,
    );
    with_edge_headers(with_problem_fallback(require_bearer(
        live_routes(Arc::new(tail)),
        auth,
    )))
}
