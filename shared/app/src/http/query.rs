//! `GET /v1/persons/{person}/events`: a person's journey, from the Tape, across every
//! id linked to the person.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::value::RawValue;
use std::sync::Arc;

use crate::profiles::Journeys;
use cjaas_core::auth::Scope;
use cjaas_core::tape::JourneyQuery;

use super::person::PersonPath;
use super::{Caller, Problem};

pub fn query_routes(journeys: Arc<Journeys>) -> Router {
    Router::new()
        .route("/v1/persons/{person}/events", get(get_events))
        .with_state(journeys)
}

#[derive(Serialize)]
struct JourneyBody {
    person: String,
    events: Vec<Box<RawValue>>,
    next_cursor: Option<String>,
}

async fn get_events(
    State(journeys): State<Arc<Journeys>>,
    Caller(caller): Caller,
    person: Result<PersonPath, Problem>,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<JourneyBody>, Problem> {
    caller.require(Scope::TapeRead)?;
    let PersonPath(person) = person?;
    let query = parse_query(raw_query.as_deref().unwrap_or_default())?;
    let page = journeys.page(&caller.tenant, &person, &query).await?;
    let events = page
        .events
        .into_iter()
        .map(|e| RawValue::from_string(e.event))
        .collect::<Result<_, _>>()
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok(Json(JourneyBody {
        person: person.to_string(),
        events,
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

fn parse_query(raw: &str) -> Result<JourneyQuery, Problem> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    JourneyQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(
        |problems| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "the query parameters are invalid",
            )
            .with_errors(problems)
        },
    )
}
