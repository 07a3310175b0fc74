//! `POST /v1/events` (CloudEvents) and the Segment-compatible tracking API: validates
//! events and puts them on the Kinesis stream.
use cjaas_aws::{lambda, settings, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let stream = settings::required("EVENT_STREAM")?;
    let config_table = settings::required("CONFIG_TABLE")?;
    let router = wiring::ingest_router(&sdk, &stream, &config_table, settings::signing_keys()?);
    lambda::serve_public(router).await
}
