//! Runs rule backtests (`BacktestRequested` on the CJaaS bus): a rule replayed over
//! the Tape's history, its would-be firings saved on the job.
use cjaas_aws::lambda::{self, Family};
use cjaas_aws::wiring;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let jobs = wiring::from_env().await?.jobs();
    jobs.backtests()?; // built at start: a missing setting fails here, naming it
    let family = Family::backtests();
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_event(&jobs, &family, event)
    }))
    .await
}
