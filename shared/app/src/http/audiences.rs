//! Audiences.
//!
//! | route | scope |
//! |---|---|
//! | `POST /v1/audiences`, `GET /v1/audiences` | admin |
//! | `GET`, `PUT`, `DELETE /v1/audiences/{id}`, `GET /v1/audiences/{id}/versions/{version}` | admin |
//! | `GET /v1/audiences/{id}/status` (the backfill's progress) | admin |
//! | `GET /v1/audiences/{id}/members`, `GET /v1/audiences/{id}/size` | tape:read |
//! | `GET /v1/persons/{person}/audiences` | tape:read |
//!
//! Members and a person's audiences show person ids, like journeys: `tape:read`.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Duration, NaiveDate, Utc};
use serde_json::json;
use std::sync::Arc;

use cjaas_core::audience::AudienceDefinition;
use cjaas_core::auth::Scope;
use cjaas_core::ids::PersonId;
use cjaas_core::tape::ParamProblem;

use super::deliveries::page_query;
use super::person::PersonPath;
use super::{path_param, read_json, Caller, Problem};
use crate::audiences::{Audiences, Membership};

/// The audience services the routes use.
pub struct AudienceApi {
    pub audiences: Audiences,
    pub membership: Arc<Membership>,
}

type Api = State<Arc<AudienceApi>>;

pub fn audience_routes(api: Arc<AudienceApi>) -> Router {
    Router::new()
        .route("/v1/audiences", get(list_audiences).post(create_audience))
        .route(
            "/v1/audiences/{id}",
            get(get_audience)
                .put(update_audience)
                .delete(delete_audience),
        )
        .route(
            "/v1/audiences/{id}/versions/{version}",
            get(get_audience_version),
        )
        .route("/v1/audiences/{id}/status", get(get_status))
        .route("/v1/audiences/{id}/members", get(list_members))
        .route("/v1/audiences/{id}/size", get(get_size))
        .route("/v1/persons/{person}/audiences", get(person_audiences))
        .with_state(api)
}

async fn list_audiences(
    State(api): Api,
    Caller(caller): Caller,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    Ok(Json(
        json!({ "audiences": api.audiences.list(&caller.tenant).await? }),
    ))
}

async fn create_audience(
    State(api): Api,
    Caller(caller): Caller,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let definition: AudienceDefinition = read_json(body).await?;
    Ok((
        StatusCode::CREATED,
        Json(api.audiences.create(&caller.tenant, definition).await?),
    ))
}

async fn get_audience(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_audience_id")?;
    Ok(Json(api.audiences.get(&caller.tenant, &id, None).await?))
}

async fn get_audience_version(
    State(api): Api,
    Caller(caller): Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let bad = |detail: String| Problem::new(StatusCode::BAD_REQUEST, "invalid_version", detail);
    let Path((id, version)) = path.map_err(|e| bad(e.body_text()))?;
    let version = version
        .parse::<u32>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| bad(format!("{version:?} is not a version number")))?;
    Ok(Json(
        api.audiences
            .get(&caller.tenant, &id, Some(version))
            .await?,
    ))
}

async fn update_audience(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_audience_id")?;
    let definition: AudienceDefinition = read_json(body).await?;
    Ok(Json(
        api.audiences
            .update(&caller.tenant, &id, definition)
            .await?,
    ))
}

async fn delete_audience(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_audience_id")?;
    api.audiences.delete(&caller.tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_status(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_audience_id")?;
    Ok(Json(api.audiences.status(&caller.tenant, &id).await?))
}

async fn list_members(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let id = path_param(id, "invalid_audience_id")?;
    let query = page_query(raw.as_deref(), |c| PersonId::parse(c).is_ok())?;
    Ok(Json(
        api.membership.members(&caller.tenant, &id, &query).await?,
    ))
}

/// `from` and `to` (`YYYY-MM-DD`, inclusive): by default the last 30 days.
fn size_range(raw: Option<&str>) -> Result<(NaiveDate, NaiveDate), Problem> {
    let today = Utc::now().date_naive();
    let (mut from, mut to) = (None, None);
    let mut problems = Vec::new();
    let problem =
        |problems: &mut Vec<ParamProblem>, name: &str, code: &'static str, detail: String| {
            problems.push(ParamProblem {
                parameter: name.to_owned(),
                code,
                detail,
            })
        };
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let date = || NaiveDate::parse_from_str(&value, "%Y-%m-%d").ok();
        match name.as_ref() {
            "from" | "to" => match date() {
                Some(d) if name == "from" => from = Some(d),
                Some(d) => to = Some(d),
                None => problem(
                    &mut problems,
                    &name,
                    "invalid_date",
                    format!("{value:?} is not a date like 2026-12-01"),
                ),
            },
            other => problem(
                &mut problems,
                other,
                "unknown_parameter",
                format!("{other:?} is not a parameter of this route"),
            ),
        }
    }
    let to = to.unwrap_or(today);
    let from = from.unwrap_or(to - Duration::days(29));
    if problems.is_empty() && from > to {
        problem(
            &mut problems,
            "from",
            "invalid_range",
            "from is after to".into(),
        );
    }
    let days = (to - from).num_days() + 1;
    if problems.is_empty() && days > crate::audiences::MAX_SERIES_DAYS {
        problem(
            &mut problems,
            "from",
            "invalid_range",
            format!("at most {} days", crate::audiences::MAX_SERIES_DAYS),
        );
    }
    if !problems.is_empty() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "the query parameters are invalid",
        )
        .with_errors(problems));
    }
    Ok((from, to))
}

async fn get_size(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let id = path_param(id, "invalid_audience_id")?;
    let (from, to) = size_range(raw.as_deref())?;
    let series = api.membership.sizes(&caller.tenant, &id, from, to).await?;
    Ok(Json(json!({ "audience": id, "series": series })))
}

async fn person_audiences(
    State(api): Api,
    Caller(caller): Caller,
    path: Result<PersonPath, Problem>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let PersonPath(person) = path?;
    let (root, audiences) = api.membership.of_person(&caller.tenant, &person).await?;
    Ok(Json(
        json!({ "person": person, "root": root, "audiences": audiences }),
    ))
}
