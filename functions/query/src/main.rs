//! `GET /v1/persons/{person}/events`: journeys from the Tape.
use cjaas_aws::{lambda, settings, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let router = wiring::query_router(&sdk, &settings::required("TAPE_TABLE")?);
    lambda::serve_http(router).await
}
