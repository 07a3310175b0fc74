//! Views, progressive profiles, aliases and the rules over them: `/v1/views…`,
//! `/v1/profiles`, `/v1/persons/{person}/profile`, `/v1/persons/{person}/aliases…` and
//! `/v1/rules…`.
use cjaas_aws::{lambda, settings, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let tape_table = settings::required("TAPE_TABLE")?;
    let config_table = settings::required("CONFIG_TABLE")?;
    let router = wiring::profile_router(&sdk, &tape_table, &config_table).merge(
        wiring::rules_router(&sdk, &config_table, settings::target_policy()?),
    );
    lambda::serve_http(router).await
}
