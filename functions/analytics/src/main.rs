//! The scheduled journey analytics job: every tenant on the EventBridge schedule, one
//! tenant when it asks for a run on the CJaaS bus.
use cjaas_aws::lambda::{self, Family};
use cjaas_aws::wiring;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let jobs = wiring::from_env().await?.jobs();
    jobs.analytics()?; // built at start: a missing setting fails here, naming it
    let family = Family::analytics();
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_event(&jobs, &family, event)
    }))
    .await
}
