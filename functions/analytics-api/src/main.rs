//! Journey analytics over HTTP: `/v1/analytics…` (reports, settings, on-demand runs)
//! and `/v1/funnels…`.
use cjaas_aws::wiring::{self, AnalyticsSettings};
use cjaas_aws::{lambda, settings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let tape_table = settings::required("TAPE_TABLE")?;
    let config_table = settings::required("CONFIG_TABLE")?;
    let bus_name = settings::required("EVENT_BUS")?;
    let settings = AnalyticsSettings {
        tape_table: &tape_table,
        config_table: &config_table,
        bus_name: &bus_name,
    };
    lambda::serve_http(wiring::analytics_router(&sdk, &settings)).await
}
