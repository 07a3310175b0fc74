//! Views, progressive profiles, aliases and the rules over them: `/v1/views…`,
//! `/v1/profiles`, `/v1/persons/{person}/profile`, `/v1/persons/{person}/aliases…` and
//! `/v1/rules…`, and `/v1/audiences…` with `/v1/persons/{person}/audiences`.
use cjaas_aws::{lambda, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let wiring = wiring::from_env().await?;
    let router = wiring
        .profile_router()?
        .merge(wiring.rules_router()?)
        .merge(wiring.audience_router()?);
    lambda::serve_http(router).await
}
