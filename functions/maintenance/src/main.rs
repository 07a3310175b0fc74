//! Erasure and backtest jobs (from the CJaaS bus) and the daily sweep: pending erasures, and each
//! tenant's retention applied to the archive, and failed forwarding deliveries retried.
//! Operators also run the Tape projection backfill through it (`projection_backfill`).
use cjaas_aws::{lambda, projection_backfill, wiring};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let wiring = wiring::from_env().await?;
    let maintenance = wiring.maintenance()?;
    let backtests = wiring.backtests()?;
    let tape = wiring.0.tape_store()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| async {
        if projection_backfill::is_backfill(&event.payload) {
            let left = event
                .context
                .deadline()
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            return projection_backfill::handle_projection_backfill(&tape, left).await;
        }
        if lambda::is_backtest(&event.payload) {
            return lambda::handle_backtest(&backtests, event).await;
        }
        lambda::handle_maintenance(&maintenance, event).await
    }))
    .await
}
