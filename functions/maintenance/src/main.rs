//! Erasure jobs (from the CJaaS bus) and the daily sweep: pending erasures, and each
//! tenant's retention applied to the archive, and failed forwarding deliveries retried.
use cjaas_aws::{lambda, wiring};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let maintenance = wiring::from_env().await?.maintenance()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_maintenance(&maintenance, event)
    }))
    .await
}
