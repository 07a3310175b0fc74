//! `/v1/keys` and `/v1/tokens` (a tenant's API keys and short-lived tokens), and
//! erasure (`DELETE /v1/persons/{person}`, `GET /v1/erasures/{id}`), forwarding
//! destinations (`/v1/forwarding`) and dead letters (`/v1/dead-letters`).
use cjaas_aws::{lambda, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let router = wiring::from_env().await?.admin_api_router()?;
    lambda::serve_http(router).await
}
