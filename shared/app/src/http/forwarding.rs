//! Forwarding destinations.
//!
//! | route | scope |
//! |---|---|
//! | `GET /v1/forwarding`, `PUT /v1/forwarding` | admin |

use axum::body::Body;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

use cjaas_core::auth::Scope;
use cjaas_core::forwarding::ForwardingConfig;

use super::{read_json, Caller, Problem};
use crate::forwarding::Forwarding;

type Api = State<Arc<Forwarding>>;

pub fn forwarding_routes(forwarding: Arc<Forwarding>) -> Router {
    Router::new()
        .route("/v1/forwarding", get(get_forwarding).put(put_forwarding))
        .with_state(forwarding)
}

async fn get_forwarding(
    State(api): Api,
    Caller(caller): Caller,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let destinations = api.views(&caller.tenant).await?;
    Ok(Json(json!({ "destinations": destinations })))
}

async fn put_forwarding(
    State(api): Api,
    Caller(caller): Caller,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let config: ForwardingConfig = read_json(body).await?;
    let destinations = api.put_config(&caller.tenant, config).await?;
    Ok(Json(json!({ "destinations": destinations })))
}
