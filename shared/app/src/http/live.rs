//! The live stream as Server-Sent Events.
//!
//! | route | scope |
//! |---|---|
//! | `GET /v1/stream[?type=…][&source=…]` | tape:read |
//! | `GET /v1/persons/{person}/stream[?type=…][&source=…]` | tape:read |
//!
//! Each event is an SSE `event: cloudevent` whose `data` is the CloudEvent and whose
//! `id` is its position: send it back as `Last-Event-ID` (or `last_event_id=`) to
//! resume after it; an id the feed never gave out (e.g. beyond the newest position)
//! starts now, after an SSE comment saying so. An `event: heartbeat` is sent every 15 s
//! of silence. Browsers'
//! `EventSource` cannot set headers, so these routes also take the token as
//! `access_token=`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

use cjaas_core::auth::Scope;
use cjaas_core::ids::PersonId;
use cjaas_core::ports::{LiveEvent, LiveFeed};

use super::person::PersonPath;
use super::{Caller, Problem};

pub const HEARTBEAT: Duration = Duration::from_secs(15);

type Api = State<Arc<dyn LiveFeed>>;

pub fn live_routes(feed: Arc<dyn LiveFeed>) -> Router {
    Router::new()
        .route("/v1/stream", get(tenant_stream))
        .route("/v1/persons/{person}/stream", get(person_stream))
        .with_state(feed)
}

/// `type` (repeatable), `source`, `last_event_id`, and `access_token` (read by the
/// auth layer).
#[derive(Debug, Default)]
struct StreamQuery {
    types: Vec<String>,
    source: Option<String>,
    last_event_id: Option<String>,
}

fn parse_query(raw: Option<String>) -> Result<StreamQuery, Problem> {
    let mut query = StreamQuery::default();
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "type" if !value.is_empty() => query.types.push(value.into_owned()),
            "source" if !value.is_empty() => query.source = Some(value.into_owned()),
            "last_event_id" if !value.is_empty() => query.last_event_id = Some(value.into_owned()),
            "access_token" => {}
            other => {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!(
                    "{other:?} is not a parameter here: type, source, last_event_id, access_token"
                ),
                ))
            }
        }
    }
    Ok(query)
}

impl StreamQuery {
    fn keeps(&self, event: &LiveEvent, person: Option<&PersonId>) -> bool {
        person.is_none_or(|p| &event.person == p)
            && (self.types.is_empty() || self.types.contains(&event.ty))
            && self.source.as_ref().is_none_or(|s| s == &event.source)
    }
}

async fn tenant_stream(
    State(feed): Api,
    Caller(caller): Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    stream(feed, caller, headers, query, None).await
}

async fn person_stream(
    State(feed): Api,
    Caller(caller): Caller,
    headers: HeaderMap,
    person: Result<PersonPath, Problem>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let PersonPath(person) = person?;
    stream(feed, caller, headers, query, Some(person)).await
}

async fn stream(
    feed: Arc<dyn LiveFeed>,
    caller: cjaas_core::auth::Principal,
    headers: HeaderMap,
    query: Option<String>,
    person: Option<PersonId>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(Scope::TapeRead)?;
    let mut query = parse_query(query)?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query.last_event_id.take());
    let following = feed.follow(&caller.tenant, resume).await?;
    // A position the feed cannot resume from starts now; an SSE comment says why.
    let notice = following
        .notice
        .map(|notice| Ok(Event::default().comment(notice.replace(['\r', '\n'], " "))));
    // A failing feed would fail the same way again (an expired iterator, a lost
    // stream): the response ends, and the client reconnects with its Last-Event-ID.
    let events = following
        .events
        .take_while(|event| {
            if let Err(e) = event {
                tracing::warn!(error = %e, "live feed failed; the client reconnects with Last-Event-ID");
            }
            std::future::ready(event.is_ok())
        })
        .filter_map(move |event| {
            let kept = match event {
                Ok(event) if query.keeps(&event, person.as_ref()) => Some(Ok::<_, std::convert::Infallible>(
                    Event::default().id(event.id).event("cloudevent").data(event.event),
                )),
                _ => None,
            };
            std::future::ready(kept)
        });
    // The heartbeat is an event of its own type: an EventSource listening for
    // `cloudevent` ignores it, and proxies and clients see the connection is alive.
    let heartbeat = Event::default().event("heartbeat").data("{}");
    let events = futures::stream::iter(notice).chain(events);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT).event(heartbeat)))
}
