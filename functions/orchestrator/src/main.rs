//! Evaluates tenants' rules on the event stream, once each event is on the Tape, and
//! runs due absence timers on its schedule.
use cjaas_aws::{lambda, wiring};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let wiring = wiring::from_env().await?;
    let function = wiring::orchestrator_function(&wiring)?;
    let jobs = wiring.jobs();
    jobs.orchestrator()?; // built at start: a missing setting fails here, naming it
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        lambda::handle_orchestration(&function, &jobs, event)
    }))
    .await
}
