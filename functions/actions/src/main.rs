//! Carries out the actions rules fire: signed webhooks, recommendations appended to
//! the Tape, and enrichment callbacks.
use cjaas_aws::{lambda, wiring};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let runner = wiring::from_env().await?.action_runner()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_action(&runner, event)
    }))
    .await
}
