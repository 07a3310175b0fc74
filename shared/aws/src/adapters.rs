//! The AWS adapters, one per port, named by [`Settings`]. `cjaas_app::wiring`
//! builds everything above them.

use aws_config::SdkConfig;
use std::sync::Arc;

use cjaas_app::wiring::Adapters;
use cjaas_core::auth::SigningKeys;
use cjaas_core::ports::{
    Archive, ConfigStore, DeadLetterSink, DocumentStore, EventBus, EventStream, Forwarder,
    TapeStore,
};
use cjaas_core::target::TargetPolicy;

use crate::settings::{s3_client, Settings, SettingsError};
use crate::{
    AwsForwarder, DynamoConfigStore, DynamoDocumentStore, DynamoTapeStore, EventBridgeBus,
    KinesisEventStream, S3Archive, S3DeadLetters, S3Objects,
};

#[derive(Clone)]
pub struct AwsAdapters {
    pub sdk: SdkConfig,
    pub settings: Settings,
}

type Made<T> = Result<Arc<T>, SettingsError>;

fn dynamo(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

impl AwsAdapters {
    pub fn tape_store(&self) -> Made<DynamoTapeStore> {
        let table = self.settings.tape_table()?.to_owned();
        Ok(Arc::new(DynamoTapeStore::new(dynamo(&self.sdk), table)))
    }
    pub fn config_store(&self) -> Made<DynamoConfigStore> {
        let table = self.settings.config_table()?.to_owned();
        Ok(Arc::new(DynamoConfigStore::new(dynamo(&self.sdk), table)))
    }
    pub fn document_store(&self) -> Made<DynamoDocumentStore> {
        let table = self.settings.config_table()?.to_owned();
        Ok(Arc::new(DynamoDocumentStore::new(dynamo(&self.sdk), table)))
    }
    pub fn kinesis_client(&self) -> aws_sdk_kinesis::Client {
        aws_sdk_kinesis::Client::new(&self.sdk)
    }
}

impl Adapters for AwsAdapters {
    type Error = SettingsError;

    fn tape(&self) -> Result<Arc<dyn TapeStore>, SettingsError> {
        Ok(self.tape_store()?)
    }
    fn docs(&self) -> Result<Arc<dyn DocumentStore>, SettingsError> {
        Ok(self.document_store()?)
    }
    fn config(&self) -> Result<Arc<dyn ConfigStore>, SettingsError> {
        Ok(self.config_store()?)
    }
    fn stream(&self) -> Result<Arc<dyn EventStream>, SettingsError> {
        let stream = self.settings.event_stream()?.to_owned();
        Ok(Arc::new(KinesisEventStream::new(
            self.kinesis_client(),
            stream,
        )))
    }
    fn dead_letters(&self) -> Result<Arc<dyn DeadLetterSink>, SettingsError> {
        let bucket = self.settings.dead_letter_bucket()?.to_owned();
        Ok(Arc::new(S3DeadLetters::new(s3_client(&self.sdk), bucket)))
    }
    fn archive(&self) -> Result<Arc<dyn Archive>, SettingsError> {
        let bucket = self.settings.archive_bucket()?.to_owned();
        Ok(Arc::new(S3Archive(S3Objects::new(
            s3_client(&self.sdk),
            bucket,
        ))))
    }
    fn bus(&self) -> Result<Arc<dyn EventBus>, SettingsError> {
        let bus = self.settings.event_bus()?.to_owned();
        let client = aws_sdk_eventbridge::Client::new(&self.sdk);
        Ok(Arc::new(EventBridgeBus::new(client, bus)))
    }
    /// The deployment's own buckets are never destinations.
    fn forwarder(&self) -> Result<Arc<dyn Forwarder>, SettingsError> {
        let own = vec![
            self.settings.archive_bucket()?.to_owned(),
            self.settings.dead_letter_bucket()?.to_owned(),
        ];
        let events = aws_sdk_eventbridge::Client::new(&self.sdk);
        Ok(Arc::new(AwsForwarder::new(
            s3_client(&self.sdk),
            events,
            own,
        )))
    }
    fn keys(&self) -> Result<SigningKeys, SettingsError> {
        self.settings.signing_keys()
    }
    fn targets(&self) -> Result<TargetPolicy, SettingsError> {
        Ok(self.settings.targets.clone())
    }
    fn tombstone_ttl(&self) -> Result<Option<chrono::Duration>, SettingsError> {
        Ok(Some(self.settings.tombstone_ttl))
    }
}
