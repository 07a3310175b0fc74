//! `GET /v1/rules/{id}/deliveries` (tape:read): the rule's recent firings, newest
//! first, each with its actions' attempts, status and latency. Paged by `limit` and
//! `cursor`. It shows person ids, like journeys, hence `tape:read`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

use cjaas_core::auth::Scope;
use cjaas_core::deliveries::{parse_page, valid_firing_cursor, PageQuery};
use cjaas_core::tape::ParamProblem;

use super::{path_param, Caller, Problem};
use crate::deliveries::DeliveryLog;

pub fn delivery_routes(log: Arc<DeliveryLog>) -> Router {
    Router::new()
        .route("/v1/rules/{id}/deliveries", get(list_deliveries))
        .with_state(log)
}

/// `limit` and `cursor` of a paged route; anything else is a 400 `invalid_query`.
pub(crate) fn page_query(
    raw: Option<&str>,
    valid_cursor: impl Fn(&str) -> bool,
) -> Result<PageQuery, Problem> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    parse_page(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        valid_cursor,
    )
    .map_err(|problems: Vec<ParamProblem>| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "the query parameters are invalid",
        )
        .with_errors(problems)
    })
}

async fn list_deliveries(
    State(log): State<Arc<DeliveryLog>>,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let id = path_param(id, "invalid_rule_id")?;
    let query = page_query(raw.as_deref(), valid_firing_cursor)?;
    Ok(Json(log.page(&caller.tenant, &id, &query).await?))
}
