//! Archives the event stream to S3 as gzip NDJSON, partitioned by tenant, date and hour.
use cjaas_aws::{lambda, wiring};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let archiver = wiring::from_env().await?.archiver()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_archive(&archiver, event)
    }))
    .await
}
