//! Carries out the actions rules fire: signed webhooks, recommendations appended to
//! the Tape, and enrichment callbacks.
use cjaas_aws::wiring::{self, ActionSettings};
use cjaas_aws::{lambda, settings};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let runner = wiring::action_runner(
        &sdk,
        ActionSettings {
            config_table: &settings::required("CONFIG_TABLE")?,
            stream: &settings::required("EVENT_STREAM")?,
            dead_letter_bucket: &settings::required("DEAD_LETTER_BUCKET")?,
            keys: settings::signing_keys()?,
            targets: settings::target_policy()?,
        },
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_action(&runner, event)
    }))
    .await
}
