//! The `{person}` of a path, read one way by every route that has one.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;

use cjaas_core::ids::PersonId;

use super::{path_param, Problem};

/// The person a route's `{person}` names. Taken as `Result<PersonPath, Problem>` so
/// the handler checks the caller's scope first, then the path.
pub(crate) struct PersonPath(pub PersonId);

impl<S: Send + Sync> FromRequestParts<S> for PersonPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let path = Path::<String>::from_request_parts(parts, state).await;
        let raw = path_param(path, "invalid_person")?;
        parse_person(&raw, "invalid_person").map(PersonPath)
    }
}

/// A person id from a path or a body; `code` names the field (`invalid_person`,
/// `invalid_alias`).
pub(crate) fn parse_person(raw: &str, code: &'static str) -> Result<PersonId, Problem> {
    PersonId::parse(raw)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, code, format!("{raw:?}: {e}")))
}
