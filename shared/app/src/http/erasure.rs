//! Erasure (GDPR).
//!
//! | route | scope |
//! |---|---|
//! | `DELETE /v1/persons/{person}` → 202 and a job | admin |
//! | `GET /v1/erasures/{id}` | admin |

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use axum::{Json, Router};
use std::sync::Arc;

use cjaas_core::auth::Scope;

use super::person::PersonPath;
use super::{path_param, Caller, Problem};
use crate::erasure::Erasures;

type Api = State<Arc<Erasures>>;

pub fn erasure_routes(erasures: Arc<Erasures>) -> Router {
    Router::new()
        .route("/v1/persons/{person}", delete(erase_person))
        .route("/v1/erasures/{id}", get(get_erasure))
        .with_state(erasures)
}

async fn erase_person(
    State(api): Api,
    Caller(caller): Caller,
    person: Result<PersonPath, Problem>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let PersonPath(person) = person?;
    let job = api
        .request(&caller.tenant, &person, &caller.credential)
        .await?;
    let location = format!("/v1/erasures/{}", job.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job),
    ))
}

async fn get_erasure(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_erasure_id")?;
    Ok(Json(api.get(&caller.tenant, &id).await?))
}
