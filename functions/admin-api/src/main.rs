//! `/v1/keys` and `/v1/tokens`: a tenant's API keys and short-lived tokens.
use cjaas_aws::{lambda, settings, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let table = settings::required("CONFIG_TABLE")?;
    let router = wiring::admin_router(&sdk, &table, settings::signing_keys()?);
    lambda::serve_http(router).await
}
