//! Operator commands, invoked directly: create tenants, create, list and revoke keys.
use cjaas_aws::{lambda, settings, wiring};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let table = settings::required("CONFIG_TABLE")?;
    let admin = wiring::admin(&sdk, &table, settings::signing_keys()?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_tenant_command(&admin, event)
    }))
    .await
}
