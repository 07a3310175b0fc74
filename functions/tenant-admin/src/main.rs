//! Operator commands, invoked directly: create tenants, create, list and revoke keys,
//! set a tenant's retention, and replay a tenant's archive through ingest.
use cjaas_aws::wiring::{self, OperationsSettings};
use cjaas_aws::{lambda, settings};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let operations = wiring::operations(
        &sdk,
        OperationsSettings {
            config_table: &settings::required("CONFIG_TABLE")?,
            stream: &settings::required("EVENT_STREAM")?,
            archive_bucket: &settings::required("ARCHIVE_BUCKET")?,
            keys: settings::signing_keys()?,
        },
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_tenant_command(&operations, event)
    }))
    .await
}
