//! The HTTP API's Lambda authorizer: API keys and signed tokens → tenant and scopes.
use cjaas_aws::{lambda, wiring};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let auth = wiring::from_env().await?.authenticator()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_authorizer(&auth, event)
    }))
    .await
}
