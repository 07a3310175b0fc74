//! `POST /v1/events` (CloudEvents) and the Segment-compatible tracking API: validates
//! events and puts them on the Kinesis stream; and the browser tag (`GET /v1/tag.js`).
use cjaas_aws::{lambda, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let wiring = wiring::from_env().await?;
    let router = wiring.ingest_function_router(lambda::with_authorizer_principal)?;
    lambda::serve_public(router).await
}
