//! Views, profiles and aliases.
//!
//! | route | scope |
//! |---|---|
//! | `POST /v1/views`, `PUT /v1/views/{id}`, `DELETE /v1/views/{id}` | admin |
//! | `GET /v1/views`, `GET /v1/views/{id}`, `GET /v1/views/{id}/versions/{version}` | tape:read |
//! | `GET /v1/persons/{person}/profile?view=…[&version=…][&explain=true]` | tape:read |
//! | `POST /v1/profiles` (an inline view, not stored) | tape:read |
//! | `GET /v1/persons/{person}/aliases` | tape:read |
//! | `POST /v1/persons/{person}/aliases`, `DELETE /v1/persons/{person}/aliases/{alias}` | events:write |

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
use cjaas_core::view::ViewDefinition;

use super::person::{parse_person, PersonPath};
use super::{path_param, read_json, Caller, Problem};
use crate::profiles::{Aliases, ProfileError, Profiles, Views};

/// What the profile routes need.
pub struct ProfileApi {
    pub views: Views,
    pub aliases: Arc<Aliases>,
    pub profiles: Profiles,
}

type Api = State<Arc<ProfileApi>>;

pub fn profile_routes(api: Arc<ProfileApi>) -> Router {
    Router::new()
        .route("/v1/views", post(create_view).get(list_views))
        .route(
            "/v1/views/{id}",
            get(get_view).put(update_view).delete(delete_view),
        )
        .route("/v1/views/{id}/versions/{version}", get(get_view_version))
        .route("/v1/persons/{person}/profile", get(get_profile))
        .route("/v1/profiles", post(inline_profile))
        .route(
            "/v1/persons/{person}/aliases",
            get(list_aliases).post(link_aliases),
        )
        .route(
            "/v1/persons/{person}/aliases/{alias}",
            axum::routing::delete(unlink_alias),
        )
        .with_state(api)
}

async fn create_view(
    State(api): Api,
    Caller(caller): Caller,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let definition: ViewDefinition = read_json(body).await?;
    let view = api.views.create(&caller.tenant, definition).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list_views(State(api): Api, Caller(caller): Caller) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    Ok(Json(
        json!({ "views": api.views.list(&caller.tenant).await? }),
    ))
}

async fn get_view(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let id = path_param(id, "invalid_view_id")?;
    Ok(Json(api.views.get(&caller.tenant, &id, None).await?))
}

async fn get_view_version(
    State(api): Api,
    Caller(caller): Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let bad = |detail: String| Problem::new(StatusCode::BAD_REQUEST, "invalid_version", detail);
    let Path((id, version)) = path.map_err(|e| bad(e.body_text()))?;
    let version = version
        .parse()
        .map_err(|_| bad(format!("{version:?} is not a version number")))?;
    Ok(Json(
        api.views.get(&caller.tenant, &id, Some(version)).await?,
    ))
}

async fn update_view(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_view_id")?;
    let definition: ViewDefinition = read_json(body).await?;
    Ok(Json(
        api.views.update(&caller.tenant, &id, definition).await?,
    ))
}

async fn delete_view(
    State(api): Api,
    Caller(caller): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::Admin)?;
    let id = path_param(id, "invalid_view_id")?;
    api.views.delete(&caller.tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `view` (required), `version`, `explain`.
struct ProfileQuery {
    view: String,
    version: Option<u32>,
    explain: bool,
}

fn parse_profile_query(raw: &str) -> Result<ProfileQuery, Problem> {
    let (mut view, mut version, mut explain) = (None, None, false);
    let mut problems = Vec::new();
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        match name.as_ref() {
            "view" => view = Some(value.into_owned()).filter(|v| !v.is_empty()),
            "version" => match value.parse() {
                Ok(v) => version = Some(v),
                Err(_) => problems.push(json!({"parameter": "version", "code": "invalid_version", "detail": "version is a number"})),
            },
            "explain" => match value.as_ref() {
                "true" => explain = true,
                "false" => explain = false,
                _ => problems.push(json!({"parameter": "explain", "code": "invalid_explain", "detail": "explain is true or false"})),
            },
            other => problems.push(json!({"parameter": other, "code": "unknown_parameter", "detail": format!("{other} is not a known parameter")})),
        }
    }
    match (view, problems.is_empty()) {
        (Some(view), true) => Ok(ProfileQuery {
            view,
            version,
            explain,
        }),
        (None, true) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "the query parameters are invalid",
        )
        .with_errors([
            json!({"parameter": "view", "code": "missing_view", "detail": "give the view id"}),
        ])),
        _ => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "the query parameters are invalid",
        )
        .with_errors(problems)),
    }
}

async fn get_profile(
    State(api): Api,
    Caller(caller): Caller,
    path: Result<PersonPath, Problem>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let PersonPath(person) = path?;
    let query = parse_profile_query(raw.as_deref().unwrap_or_default())?;
    let (stored, result) = api
        .profiles
        .for_stored_view(
            &api.views,
            &caller.tenant,
            &person,
            &query.view,
            query.version,
            query.explain,
        )
        .await?;
    Ok(Json(
        json!({ "view": {"id": stored.id, "version": stored.version}, "profile": result }),
    ))
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InlineProfileRequest {
    person: String,
    view: ViewDefinition,
    #[serde(default)]
    explain: bool,
}

async fn inline_profile(
    State(api): Api,
    Caller(caller): Caller,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let request: InlineProfileRequest = read_json(body).await?;
    let person = parse_person(&request.person, "invalid_person")?;
    let compiled = request.view.compile().map_err(ProfileError::InvalidView)?;
    let result = api
        .profiles
        .build(&caller.tenant, &person, &compiled, None, request.explain)
        .await?;
    Ok(Json(json!({ "view": null, "profile": result })))
}

async fn list_aliases(
    State(api): Api,
    Caller(caller): Caller,
    path: Result<PersonPath, Problem>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let PersonPath(person) = path?;
    Ok(Json(api.aliases.view(&caller.tenant, &person).await?))
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkRequest {
    aliases: Vec<String>,
    #[serde(default, rename = "move")]
    allow_move: bool,
}

const MAX_LINKS_PER_REQUEST: usize = 20;

async fn link_aliases(
    State(api): Api,
    Caller(caller): Caller,
    path: Result<PersonPath, Problem>,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::EventsWrite)?;
    let PersonPath(person) = path?;
    let request: LinkRequest = read_json(body).await?;
    if request.aliases.is_empty() || request.aliases.len() > MAX_LINKS_PER_REQUEST {
        return Err(ProfileError::InvalidRequest(format!(
            "give 1 to {MAX_LINKS_PER_REQUEST} aliases"
        ))
        .into());
    }
    let aliases = request
        .aliases
        .iter()
        .map(|a| parse_person(a, "invalid_alias"))
        .collect::<Result<Vec<_>, _>>()?;
    let view = api
        .aliases
        .link(&caller.tenant, &person, &aliases, request.allow_move)
        .await?;
    Ok(Json(view))
}

async fn unlink_alias(
    State(api): Api,
    Caller(caller): Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::EventsWrite)?;
    let Path((person, alias)) =
        path.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid_alias", e.body_text()))?;
    let person = parse_person(&person, "invalid_person")?;
    let alias = parse_person(&alias, "invalid_alias")?;
    api.aliases.unlink(&caller.tenant, &person, &alias).await?;
    Ok(StatusCode::NO_CONTENT)
}
