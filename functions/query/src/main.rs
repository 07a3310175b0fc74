//! `GET /v1/persons/{person}/events`: journeys from the Tape, across aliases.
use cjaas_aws::{lambda, settings, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let tape_table = settings::required("TAPE_TABLE")?;
    let config_table = settings::required("CONFIG_TABLE")?;
    let router = wiring::query_router(&sdk, &tape_table, &config_table);
    lambda::serve_http(router).await
}
