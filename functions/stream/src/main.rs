//! The live stream as Server-Sent Events, on a function URL with response streaming:
//! `GET /v1/stream` and `GET /v1/persons/{person}/stream`, tailing the event stream.
use cjaas_aws::{lambda, wiring};
use std::time::Duration;
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let router = wiring::stream_router(&wiring::from_env().await?, Duration::from_secs(1))?;
    let service = ServiceBuilder::new()
        .map_request(|request: lambda_http::Request| request.map(axum::body::Body::new))
        .service(router);
    lambda_http::run_with_streaming_response(service).await
}
