//! Kinesis → the Tape, exactly once per event; reports failed records by sequence number.
use cjaas_aws::wiring::TapeWriterSettings;
use cjaas_aws::{lambda, settings, wiring};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let writer = wiring::tape_writer(
        &sdk,
        TapeWriterSettings {
            tape_table: &settings::required("TAPE_TABLE")?,
            config_table: &settings::required("CONFIG_TABLE")?,
            dead_letter_bucket: &settings::required("DEAD_LETTER_BUCKET")?,
            keys: settings::signing_keys()?,
        },
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_kinesis(&writer, event)
    }))
    .await
}
