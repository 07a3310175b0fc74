//! Views, progressive profiles and aliases: `/v1/views…`, `/v1/profiles`,
//! `/v1/persons/{person}/profile` and `/v1/persons/{person}/aliases…` (the rules:
//! `rules-api`; audiences: `audiences`).
use cjaas_aws::{lambda, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let router = wiring::from_env().await?.profile_router()?;
    lambda::serve_http(router).await
}
