//! Rule backtests and the orchestration policy.
//!
//! | route | scope |
//! |---|---|
//! | `POST /v1/rules/{id}/backtest` → 202 and a job | admin |
//! | `POST /v1/rules/backtest` (an unsaved rule) → 202 and a job | admin |
//! | `GET /v1/backtests/{id}` | admin |
//! | `GET /v1/orchestration/policy` | tape:read |
//! | `PUT /v1/orchestration/policy` | admin |

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

use cjaas_core::auth::Scope;

use super::{path_param, read_json, Caller, Problem};
use crate::jobs::{BacktestJob, Backtests, InlineBacktest, Window};
use crate::orchestration::{Policies, PolicyDefinition};

pub fn backtest_routes(backtests: Arc<Backtests>, policies: Arc<Policies>) -> Router {
    let jobs = Router::new()
        .route("/v1/rules/backtest", post(backtest_inline))
        .route("/v1/rules/{id}/backtest", post(backtest_saved))
        .route("/v1/backtests/{id}", get(get_backtest))
        .with_state(backtests);
    let policy = Router::new()
        .route("/v1/orchestration/policy", get(get_policy).put(put_policy))
        .with_state(policies);
    jobs.merge(policy)
}

fn accepted(job: BacktestJob) -> impl IntoResponse {
    let location = format!("/v1/backtests/{}", job.id);
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job),
    )
}

async fn backtest_saved(
    State(api): State<Arc<Backtests>>,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_rule_id")?;
    let window: Window = read_json(body).await?;
    Ok(accepted(
        api.request_saved(&caller.tenant, &id, window).await?,
    ))
}

async fn backtest_inline(
    State(api): State<Arc<Backtests>>,
    Caller(caller): Caller,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let inline: InlineBacktest = read_json(body).await?;
    Ok(accepted(api.request_inline(&caller.tenant, inline).await?))
}

async fn get_backtest(
    State(api): State<Arc<Backtests>>,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_backtest_id")?;
    Ok(Json(api.get(&caller.tenant, &id).await?))
}

async fn get_policy(
    State(api): State<Arc<Policies>>,
    Caller(caller): Caller,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    Ok(Json(api.get(&caller.tenant).await?))
}

async fn put_policy(
    State(api): State<Arc<Policies>>,
    Caller(caller): Caller,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let definition: PolicyDefinition = read_json(body).await?;
    Ok(Json(api.put(&caller.tenant, definition).await?))
}
