//! `POST /v1/events`: validates CloudEvents and puts them on the Kinesis stream.
use cjaas_aws::{lambda, settings, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let stream = settings::required("EVENT_STREAM")?;
    let router = wiring::ingest_router(&sdk, &stream, settings::signing_keys()?);
    lambda::serve_http(router).await
}
