//! Audiences: `/v1/audiences…` (definitions, versions, backfill status, members and
//! sizes) and `/v1/persons/{person}/audiences`. Membership is kept by the
//! orchestrator; this function only reads it, and appends the exits of a deleted
//! audience through ingest.
use cjaas_aws::{lambda, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let router = wiring::from_env().await?.audience_router()?;
    lambda::serve_http(router).await
}
