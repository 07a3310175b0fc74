//! `GET /v1/persons/{person}/events`: journeys from the Tape, across aliases.
use cjaas_aws::{lambda, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let router = wiring::from_env().await?.query_router()?;
    lambda::serve_http(router).await
}
