//! Views, progressive profiles and aliases: `/v1/views…`, `/v1/profiles`,
//! `/v1/persons/{person}/profile` and `/v1/persons/{person}/aliases…`, and
//! `/v1/audiences…` with `/v1/persons/{person}/audiences` (the rules: `rules-api`).
use cjaas_aws::{lambda, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let wiring = wiring::from_env().await?;
    let router = wiring.profile_router()?.merge(wiring.audience_router()?);
    lambda::serve_http(router).await
}
