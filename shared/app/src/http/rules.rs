//! Orchestration rules.
//!
//! | route | scope |
//! |---|---|
//! | `GET /v1/rules`, `GET /v1/rules/{id}` | tape:read |
//! | `POST /v1/rules`, `PUT /v1/rules/{id}`, `DELETE /v1/rules/{id}` | admin |
//! | `GET /v1/rules/webhook-secret` (signs webhook and enrichment calls) | admin |

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

use cjaas_core::auth::Scope;
use cjaas_core::rules::RuleDefinition;

use super::{path_param, read_json, Caller, Problem};
use crate::orchestration::Rules;

type Api = State<Arc<Rules>>;

pub fn rule_routes(rules: Arc<Rules>) -> Router {
    Router::new()
        .route("/v1/rules", get(list_rules).post(create_rule))
        .route("/v1/rules/webhook-secret", get(get_secret))
        .route(
            "/v1/rules/{id}",
            get(get_rule).put(update_rule).delete(delete_rule),
        )
        .with_state(rules)
}

async fn list_rules(State(api): Api, Caller(caller): Caller) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    Ok(Json(json!({ "rules": api.list(&caller.tenant).await? })))
}

async fn create_rule(
    State(api): Api,
    Caller(caller): Caller,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let definition: RuleDefinition = read_json(body).await?;
    Ok((
        StatusCode::CREATED,
        Json(api.create(&caller.tenant, definition).await?),
    ))
}

async fn get_rule(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let id = path_param(id, "invalid_rule_id")?;
    Ok(Json(api.get(&caller.tenant, &id).await?))
}

async fn update_rule(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_rule_id")?;
    let definition: RuleDefinition = read_json(body).await?;
    Ok(Json(api.update(&caller.tenant, &id, definition).await?))
}

async fn delete_rule(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_rule_id")?;
    api.delete(&caller.tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_secret(State(api): Api, Caller(caller): Caller) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let secret = api.webhook_secret(&caller.tenant).await?;
    Ok(Json(
        json!({ "secret": secret, "header": "cjaas-signature", "scheme": "t={unix seconds},v1=hex(HMAC-SHA256(secret, \"{t}.{body}\"))" }),
    ))
}
