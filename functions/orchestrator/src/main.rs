//! Evaluates tenants' rules on the event stream, once each event is on the Tape, and
//! runs due absence timers on its schedule.
use cjaas_aws::wiring::{self, OrchestrationSettings, TapeWriterSettings};
use cjaas_aws::{lambda, settings};

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let tape_table = settings::required("TAPE_TABLE")?;
    let config_table = settings::required("CONFIG_TABLE")?;
    let decoder = wiring::tape_writer(
        &sdk,
        TapeWriterSettings {
            tape_table: &tape_table,
            config_table: &config_table,
            dead_letter_bucket: &settings::required("DEAD_LETTER_BUCKET")?,
            keys: settings::signing_keys()?,
        },
    );
    let tape = wiring::tape_store(&sdk, &tape_table);
    let orchestrator = wiring::orchestrator(
        &sdk,
        &OrchestrationSettings {
            tape_table: &tape_table,
            config_table: &config_table,
            bus_name: &settings::required("EVENT_BUS")?,
        },
    );
    let tenants = wiring::tenants(&sdk, &config_table);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        lambda::handle_orchestration(
            &decoder,
            tape.as_ref(),
            &orchestrator,
            tenants.as_ref(),
            event,
        )
    }))
    .await
}
