//! A tenant's dead letters (admin): records the Tape writer could never write and
//! actions that could not be carried out.
//!
//! | route | |
//! |---|---|
//! | `GET /v1/dead-letters?limit=&cursor=` | the letters, with reasons; credentials redacted |
//! | `GET /v1/dead-letters/{id}` | one letter |
//! | `POST /v1/dead-letters/{id}/redrive` | back on the stream (records) or the bus (actions); 409 `not_redrivable` if it would only fail again |
//! | `POST /v1/dead-letters/redrive` `{"ids": [...]}` | up to 100 at once, an outcome each |

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

use cjaas_core::auth::Scope;
use cjaas_core::dead_letters::valid_origin;

use super::deliveries::page_query;
use super::read_json;
use super::{path_param, Caller, Problem};
use crate::dead_letters::{DeadLetters, MAX_BULK_REDRIVE};

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct BulkRedrive {
    ids: Vec<String>,
}

type Api = State<Arc<DeadLetters>>;

pub fn dead_letter_routes(letters: Arc<DeadLetters>) -> Router {
    Router::new()
        .route("/v1/dead-letters", get(list_letters))
        .route("/v1/dead-letters/redrive", post(redrive_letters))
        .route("/v1/dead-letters/{id}", get(get_letter))
        .route("/v1/dead-letters/{id}/redrive", post(redrive_letter))
        .with_state(letters)
}

async fn list_letters(
    State(api): Api,
    Caller(caller): Caller,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let query = page_query(raw.as_deref(), valid_origin)?;
    Ok(Json(api.page(&caller.tenant, &query).await?))
}

async fn get_letter(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_dead_letter_id")?;
    Ok(Json(api.get(&caller.tenant, &id).await?))
}

async fn redrive_letter(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_dead_letter_id")?;
    Ok((
        StatusCode::ACCEPTED,
        Json(api.redrive(&caller.tenant, &id).await?),
    ))
}

async fn redrive_letters(
    State(api): Api,
    Caller(caller): Caller,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let BulkRedrive { ids } = read_json(body).await?;
    let mut unique = std::collections::BTreeSet::new();
    if ids.is_empty() || ids.len() > MAX_BULK_REDRIVE || !ids.iter().all(|id| unique.insert(id)) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            format!("ids must be 1 to {MAX_BULK_REDRIVE} distinct letter ids"),
        ));
    }
    let results = api.redrive_all(&caller.tenant, &ids).await?;
    Ok(Json(json!({ "results": results })))
}
