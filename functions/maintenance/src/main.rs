//! Erasure jobs (from the CJaaS bus) and the daily sweep: pending erasures, and each
//! tenant's retention applied to the archive, and failed forwarding deliveries retried.
//! Operators also run the Tape projection backfill through it (`projection_backfill`).
use cjaas_aws::wiring::{self, ErasureSettings, ForwardingSettings};
use cjaas_aws::{lambda, projection_backfill, settings};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let config_table = settings::required("CONFIG_TABLE")?;
    let archive_bucket = settings::required("ARCHIVE_BUCKET")?;
    let dead_letter_bucket = settings::required("DEAD_LETTER_BUCKET")?;
    let erasures = wiring::erasures(
        &sdk,
        &ErasureSettings {
            tape_table: &settings::required("TAPE_TABLE")?,
            config_table: &config_table,
            dead_letter_bucket: &dead_letter_bucket,
            archive_bucket: &archive_bucket,
            bus_name: &settings::required("EVENT_BUS")?,
        },
    )
    .with_tombstone_ttl(settings::tombstone_ttl()?);
    let retention = wiring::archive_retention(&sdk, &config_table, &archive_bucket);
    let forwarding = wiring::forwarding(
        &sdk,
        &ForwardingSettings {
            config_table: &config_table,
            archive_bucket: &archive_bucket,
            dead_letter_bucket: &dead_letter_bucket,
        },
    );
    let tenants = wiring::tenants(&sdk, &config_table);
    let tape = projection_backfill::tape_store(&sdk, &settings::required("TAPE_TABLE")?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| async {
        if projection_backfill::is_backfill(&event.payload) {
            let left = event
                .context
                .deadline()
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            return projection_backfill::handle_projection_backfill(&tape, left).await;
        }
        lambda::handle_maintenance(&erasures, &retention, &forwarding, tenants.as_ref(), event)
            .await
    }))
    .await
}
