//! Builds each function's handler from SDK clients and settings. The Lambda binaries
//! call these with values from the environment; tests call them with their own.

use aws_config::SdkConfig;
use axum::Router;
use std::sync::Arc;

use cjaas_app::admin::Admin;
use cjaas_app::auth::Authenticator;
use cjaas_app::http::{admin_routes, ingest_routes, query_routes};
use cjaas_app::ingest::{Ingestor, RetryPolicy};
use cjaas_app::writer::TapeWriter;
use cjaas_core::auth::SigningKeys;

use crate::settings::s3_client;
use crate::{DynamoConfigStore, DynamoTapeStore, KinesisEventStream, S3DeadLetters};

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

pub fn ingest_router(sdk: &SdkConfig, stream: &str, keys: SigningKeys) -> Router {
    let stream = KinesisEventStream::new(aws_sdk_kinesis::Client::new(sdk), stream.to_owned());
    ingest_routes(Arc::new(Ingestor::new(
        Arc::new(stream),
        keys,
        RetryPolicy::default(),
    )))
}

pub fn query_router(sdk: &SdkConfig, tape_table: &str) -> Router {
    let tape = DynamoTapeStore::new(aws_sdk_dynamodb::Client::new(sdk), tape_table.to_owned());
    query_routes(Arc::new(tape))
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
}
