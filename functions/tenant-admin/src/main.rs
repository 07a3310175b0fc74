//! Operator commands, invoked directly: create tenants, create, list and revoke keys,
//! set a tenant's retention, and replay a tenant's archive through ingest.
use cjaas_aws::{lambda, wiring};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let jobs = wiring::from_env().await?.jobs();
    jobs.operations()?; // built at start: a missing setting fails here, naming it
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_tenant_command(&jobs, event)
    }))
    .await
}
