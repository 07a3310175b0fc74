//! `/v1/keys` and `/v1/tokens` (a tenant's API keys and short-lived tokens), and
//! erasure (`DELETE /v1/persons/{person}`, `GET /v1/erasures/{id}`), forwarding
//! destinations (`/v1/forwarding`) and dead letters (`/v1/dead-letters`).
use axum::Router;
use cjaas_aws::wiring::{
    self, DeadLetterSettings, ErasureSettings, ForwardingSettings, TapeWriterSettings,
};
use cjaas_aws::{lambda, settings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let config_table = settings::required("CONFIG_TABLE")?;
    let archive_bucket = settings::required("ARCHIVE_BUCKET")?;
    let erasure = ErasureSettings {
        tape_table: &settings::required("TAPE_TABLE")?,
        config_table: &config_table,
        dead_letter_bucket: &settings::required("DEAD_LETTER_BUCKET")?,
        archive_bucket: &archive_bucket,
        bus_name: &settings::required("EVENT_BUS")?,
    };
    let router = Router::new()
        .merge(wiring::admin_router(
            &sdk,
            &config_table,
            settings::signing_keys()?,
        ))
        .merge(wiring::erasure_router(&sdk, &erasure))
        .merge(wiring::forwarding_router(
            &sdk,
            &ForwardingSettings {
                config_table: &config_table,
                archive_bucket: &archive_bucket,
                dead_letter_bucket: erasure.dead_letter_bucket,
            },
        ))
        .merge(wiring::dead_letter_router(
            &sdk,
            DeadLetterSettings {
                writer: TapeWriterSettings {
                    tape_table: erasure.tape_table,
                    config_table: &config_table,
                    dead_letter_bucket: erasure.dead_letter_bucket,
                    keys: settings::signing_keys()?,
                },
                stream: &settings::required("EVENT_STREAM")?,
                bus_name: erasure.bus_name,
            },
        ));
    lambda::serve_http(router).await
}
