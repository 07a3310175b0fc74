//! The scheduled journey analytics job: every tenant on the EventBridge schedule, one
//! tenant when it asks for a run on the CJaaS bus.
use cjaas_aws::wiring::{self, AnalyticsSettings};
use cjaas_aws::{lambda, settings};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let sdk = settings::sdk_config().await;
    let tape_table = settings::required("TAPE_TABLE")?;
    let config_table = settings::required("CONFIG_TABLE")?;
    let bus_name = settings::required("EVENT_BUS")?;
    let analytics = wiring::analytics(
        &sdk,
        &AnalyticsSettings {
            tape_table: &tape_table,
            config_table: &config_table,
            bus_name: &bus_name,
        },
    );
    let tenants = wiring::tenants(&sdk, &config_table);
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        lambda::handle_analytics(&analytics, tenants.as_ref(), event)
    }))
    .await
}
