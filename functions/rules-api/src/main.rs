//! The rules over the views: `/v1/rules…` (with their delivery logs), rule backtest
//! requests (`/v1/rules/{id}/backtest`, `/v1/rules/backtest`, `/v1/backtests/{id}`)
//! and the orchestration policy (`/v1/orchestration/policy`).
use cjaas_aws::{lambda, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_tracing();
    let router = wiring::from_env().await?.rules_router()?;
    lambda::serve_http(router).await
}
