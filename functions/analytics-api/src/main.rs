//! Journey analytics over HTTP: `/v1/analytics…` (reports, settings, on-demand runs)
//! and `/v1/funnels…`.
use cjaas_aws::{lambda, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let router = wiring::from_env().await?.analytics_router()?;
    lambda::serve_http(router).await
}
