//! The live stream as Server-Sent Events, on a function URL with response streaming:
//! `GET /v1/stream` and `GET /v1/persons/{person}/stream`, tailing the event stream.
use cjaas_aws::wiring::{self, TapeWriterSettings};
use cjaas_aws::{lambda, settings};
use std::time::Duration;
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let router = wiring::stream_router(
        &sdk,
        TapeWriterSettings {
            tape_table: &settings::required("TAPE_TABLE")?,
            config_table: &settings::required("CONFIG_TABLE")?,
            dead_letter_bucket: &settings::required("DEAD_LETTER_BUCKET")?,
            keys: settings::signing_keys()?,
        },
        &settings::required("EVENT_STREAM")?,
        Duration::from_secs(1),
    );
    let service = ServiceBuilder::new()
        .map_request(|request: lambda_http::Request| request.map(axum::body::Body::new))
        .service(router);
    lambda_http::run_with_streaming_response(service).await
}
