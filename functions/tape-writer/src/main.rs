//! Kinesis → the Tape, exactly once per event; reports failed records by sequence number.
use cjaas_aws::{lambda, wiring};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let writer = wiring::from_env().await?.tape_writer()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_kinesis(&writer, event)
    }))
    .await
}
