//! Erasure and backtest jobs (from the CJaaS bus) and the daily sweep: pending erasures, and each
//! tenant's retention applied to the archive, and failed forwarding deliveries retried.
//! Operators also run the Tape projection backfill through it (`lambda::events`).
use cjaas_aws::lambda::{self, Family};
use cjaas_aws::wiring;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let jobs = wiring::from_env().await?.jobs();
    jobs.maintenance()?;
    jobs.tape()?; // built at start: a missing setting fails here, naming it
    let family = Family::maintenance();
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_event(&jobs, &family, event)
    }))
    .await
}
