//! Archives the event stream to S3 as gzip NDJSON, partitioned by tenant, date and hour.
use cjaas_aws::wiring::{self, TapeWriterSettings};
use cjaas_aws::{lambda, settings};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let archiver = wiring::archiver(
        &sdk,
        TapeWriterSettings {
            tape_table: &settings::required("TAPE_TABLE")?,
            config_table: &settings::required("CONFIG_TABLE")?,
            dead_letter_bucket: &settings::required("DEAD_LETTER_BUCKET")?,
            keys: settings::signing_keys()?,
        },
        &settings::required("ARCHIVE_BUCKET")?,
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_archive(&archiver, event)
    }))
    .await
}
