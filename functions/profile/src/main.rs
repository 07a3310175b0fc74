//! Views, progressive profiles and aliases: `/v1/views…`, `/v1/profiles`,
//! `/v1/persons/{person}/profile` and `/v1/persons/{person}/aliases…`.
use cjaas_aws::{lambda, settings, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let tape_table = settings::required("TAPE_TABLE")?;
    let config_table = settings::required("CONFIG_TABLE")?;
    lambda::serve_http(wiring::profile_router(&sdk, &tape_table, &config_table)).await
}
