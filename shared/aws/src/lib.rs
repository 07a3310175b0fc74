//! CJaaS on AWS: adapters that translate the ports to DynamoDB, Kinesis, S3 and EventBridge, and
//! the glue every Lambda binary shares (tracing, settings, event handlers).

pub mod adapters;
pub mod dynamo_config;
pub mod dynamo_documents;
mod dynamo_limits;
mod dynamo_steps;
pub mod dynamo_tape;
pub mod eventbridge_bus;
pub mod forwarder;
pub mod kinesis_stream;
pub mod kinesis_tail;
pub mod lambda;
pub mod s3_archive;
pub mod s3_dead_letters;
mod sdk_http;
pub mod settings;
pub mod wiring;

pub use dynamo_config::DynamoConfigStore;
pub use dynamo_documents::DynamoDocumentStore;
pub use dynamo_steps::BackfillReport;
pub use dynamo_tape::DynamoTapeStore;
pub use eventbridge_bus::EventBridgeBus;
pub use forwarder::AwsForwarder;
pub use kinesis_stream::KinesisEventStream;
pub use kinesis_tail::KinesisTail;
pub use s3_archive::{S3Archive, S3Objects};
pub use s3_dead_letters::S3DeadLetters;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use cjaas_core::ports::StoreError;

/// Error codes that retrying cannot fix.
const PERMANENT_CODES: &[&str] = &["ValidationException", "InvalidArgumentException"];

/// Classifies any SDK error: a validation failure is permanent, the rest is transient
/// (throttling, timeouts, a missing table during a deploy, conflicting transactions).
pub(crate) fn store_error<E>(error: E) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = DisplayErrorContext(&error).to_string();
    match error.code() {
        Some(code) if PERMANENT_CODES.contains(&code) => StoreError::Rejected(message),
        _ => StoreError::Transient(message),
    }
}
