//! The HTTP API's Lambda authorizer: API keys and signed tokens → tenant and scopes.
use cjaas_aws::{lambda, settings, wiring};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let table = settings::required("CONFIG_TABLE")?;
    let auth = wiring::authenticator(&sdk, &table, settings::signing_keys()?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_authorizer(&auth, event)
    }))
    .await
}
