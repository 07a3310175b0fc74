//! The `{id}/versions/{version}` of a path, read one way by views and audiences.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::Problem;

/// A resource id and a version number (1 or more) from `…/{id}/versions/{version}`.
/// Taken as `Result<VersionPath, Problem>` so the handler checks the caller's scope
/// first, then the path.
pub(crate) struct VersionPath {
    pub id: String,
    pub version: u32,
}

impl<S: Send + Sync> FromRequestParts<S> for VersionPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Path((id, raw)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| invalid(e.body_text()))?;
        let version = parse_version(&raw)?;
        Ok(VersionPath { id, version })
    }
}

fn invalid(detail: String) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid_version", detail)
}

/// Versions count from 1: `0`, a sign, a non-number or one past `u32` is a 400
/// `invalid_version`.
pub(crate) fn parse_version(raw: &str) -> Result<u32, Problem> {
    raw.parse::<u32>()
        .ok()
        .filter(|v| *v > 0 && raw.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| invalid(format!("{raw:?} is not a version number (1 or more)")))
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions_count_from_one() {
        for (raw, expected) in [("1", Some(1)), ("12", Some(12)), ("007", Some(7))] {
            assert_eq!(parse_version(raw).ok(), expected, "{raw}");
        }
        for raw in ["0", "00", "-1", "+1", "x", "1.0", "", "4294967296"] {
            assert!(parse_version(raw).is_err(), "{raw}");
        }
    }
}
