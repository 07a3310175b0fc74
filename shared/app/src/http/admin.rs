//! Key management for a tenant's admins, and short-lived tokens for everyone.
//!
//! - `POST /v1/tokens` mints a signed token with a subset of the caller's scopes.
//! - `GET /v1/keys`, `POST /v1/keys`, `DELETE /v1/keys/{key_id}` need the admin scope.
//! - Minting (a token or a key) needs an API key: a token cannot outlive its key.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

use cjaas_core::auth::Scope;

use super::{path_param, read_json, Caller, Problem};
use crate::admin::{Admin, AdminError, KeyRequest, TokenRequest};

pub fn admin_routes(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/v1/tokens", post(post_token))
        .route("/v1/keys", get(list_keys).post(create_key))
        .route("/v1/keys/{key_id}", delete(revoke_key))
        .with_state(admin)
}

async fn post_token(
    State(admin): State<Arc<Admin>>,
    Caller(caller): Caller,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    let request: TokenRequest = read_json(body).await?;
    let token = admin.mint_token(&caller, request)?;
    Ok((StatusCode::CREATED, Json(token)))
}

async fn list_keys(
    State(admin): State<Arc<Admin>>,
    Caller(caller): Caller,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let keys = admin.list_keys(&caller.tenant).await?;
    Ok(Json(json!({ "keys": keys })))
}

async fn create_key(
    State(admin): State<Arc<Admin>>,
    Caller(caller): Caller,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    if caller.via_signed_token() {
        return Err(AdminError::ApiKeyRequired.into());
    }
    let request: KeyRequest = read_json(body).await?;
    let key = admin.create_key(&caller.tenant, request).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

async fn revoke_key(
    State(admin): State<Arc<Admin>>,
    Caller(caller): Caller,
    key_id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let key_id = path_param(key_id, "invalid_key_id")?;
    admin.revoke_key(&caller.tenant, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
