//! Journey analytics and funnels.
//!
//! | route | scope |
//! |---|---|
//! | `GET /v1/analytics?window=7d`, `GET /v1/analytics/status` | tape:read |
//! | `PUT /v1/analytics/settings`, `POST /v1/analytics/runs` | admin |
//! | `GET /v1/funnels`, `GET /v1/funnels/{id}`, `GET /v1/funnels/{id}/report?window=7d` | tape:read |
//! | `POST /v1/funnels`, `PUT /v1/funnels/{id}`, `DELETE /v1/funnels/{id}` | admin |

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::json;
use std::sync::Arc;

use cjaas_core::analytics::{AnalyticsSettings, FunnelDefinition};
use cjaas_core::auth::Scope;

use super::{path_param, read_json, Caller, Problem};
use crate::analytics::Analytics;

type Api = State<Arc<Analytics>>;

pub fn analytics_routes(analytics: Arc<Analytics>) -> Router {
    Router::new()
        .route("/v1/analytics", get(get_report))
        .route("/v1/analytics/status", get(get_status))
        .route("/v1/analytics/settings", put(put_settings))
        .route("/v1/analytics/runs", post(request_run))
        .route("/v1/funnels", post(create_funnel).get(list_funnels))
        .route(
            "/v1/funnels/{id}",
            get(get_funnel).put(update_funnel).delete(delete_funnel),
        )
        .route("/v1/funnels/{id}/report", get(get_funnel_report))
        .with_state(analytics)
}

/// The `window` parameter, required and alone.
fn window_param(raw: Option<String>) -> Result<String, Problem> {
    let mut window = None;
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "window" if !value.is_empty() => window = Some(value.into_owned()),
            other => {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("{other:?} is not a parameter here; give window, e.g. window=7d"),
                ))
            }
        }
    }
    window.ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "window is required, e.g. window=7d",
        )
    })
}

async fn get_report(
    State(api): Api,
    Caller(caller): Caller,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let window = window_param(query)?;
    Ok(Json(api.report(&caller.tenant, &window).await?))
}

async fn get_status(State(api): Api, Caller(caller): Caller) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    Ok(Json(api.status(&caller.tenant).await?))
}

async fn put_settings(
    State(api): Api,
    Caller(caller): Caller,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let settings: AnalyticsSettings = read_json(body).await?;
    Ok(Json(api.put_settings(&caller.tenant, settings).await?))
}

async fn request_run(
    State(api): Api,
    Caller(caller): Caller,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let request = api.request_run(&caller.tenant, Utc::now()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "accepted", "requested_at": request.requested_at })),
    ))
}

async fn create_funnel(
    State(api): Api,
    Caller(caller): Caller,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let definition: FunnelDefinition = read_json(body).await?;
    Ok((
        StatusCode::CREATED,
        Json(api.create_funnel(&caller.tenant, definition).await?),
    ))
}

async fn list_funnels(
    State(api): Api,
    Caller(caller): Caller,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    Ok(Json(
        json!({ "funnels": api.funnels(&caller.tenant).await? }),
    ))
}

async fn get_funnel(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let id = path_param(id, "invalid_funnel_id")?;
    Ok(Json(api.funnel(&caller.tenant, &id).await?))
}

async fn update_funnel(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_funnel_id")?;
    let definition: FunnelDefinition = read_json(body).await?;
    Ok(Json(
        api.update_funnel(&caller.tenant, &id, definition).await?,
    ))
}

async fn delete_funnel(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_funnel_id")?;
    api.delete_funnel(&caller.tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_funnel_report(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let id = path_param(id, "invalid_funnel_id")?;
    let window = window_param(query)?;
    let (funnel, report) = api.funnel_report(&caller.tenant, &id, &window).await?;
    Ok(Json(json!({
        "window": report.window,
        "from": report.from,
        "to": report.to,
        "computed_at": report.computed_at,
        "funnel": funnel,
    })))
}
