//! CORS for trusted dashboard origins: the web components work in any page of an
//! origin the operator lists (`--dashboard-origin` / `CJAAS_DASHBOARD_ORIGINS`, none by
//! default), on every route, with the `Authorization` header. Pages of other origins
//! keep being refused by browsers, as before; the console is same-origin and needs no
//! listing. The browser routes (`POST /v1/events`, tracking) keep their own CORS.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Arc;

const METHODS: &str = "GET, POST, PUT, DELETE";
const HEADERS: &str = "authorization, content-type, last-event-id";
const EXPOSED: &str = "Retry-After, Location";
const MAX_AGE_SECS: &str = "7200";

/// The origins allowed to call every route from a page, e.g. `https://crm.example.com`.
#[derive(Debug, Clone, Default)]
pub struct DashboardOrigins(Arc<Vec<String>>);

impl DashboardOrigins {
    /// Parses each origin: `http(s)://host[:port]`, without a path or a trailing slash.
    pub fn parse<S: AsRef<str>>(origins: &[S]) -> Result<Self, String> {
        let mut list = Vec::new();
        for origin in origins
            .iter()
            .map(|o| o.as_ref().trim())
            .filter(|o| !o.is_empty())
        {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .ok_or_else(|| {
                    format!("{origin:?} is not an origin like https://crm.example.com")
                })?;
            if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
                return Err(format!(
                    "{origin:?} is not an origin like https://crm.example.com (no path)"
                ));
            }
            list.push(origin.to_ascii_lowercase());
        }
        Ok(Self(Arc::new(list)))
    }

    fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Lets the pages of `origins` call `router`'s routes (apply it outermost).
pub fn with_dashboard_origins(router: Router, origins: DashboardOrigins) -> Router {
    if origins.is_empty() {
        return router;
    }
    router.layer(middleware::from_fn_with_state(origins, dashboard_cors))
}

async fn dashboard_cors(
    State(origins): State<DashboardOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|o| o.to_str().is_ok_and(|o| origins.allows(o)))
        .cloned();
    let Some(origin) = origin else {
        return next.run(request).await;
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = next.run(request).await;
    // A browser route answers its own preflight; any other route gets this one.
    if preflight
        && !response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    {
        response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(METHODS),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE_SECS),
        );
    }
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED),
    );
    if !headers.get_all(header::VARY).iter().any(|v| v == "Origin") {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    fn app() -> Router {
        let origins = DashboardOrigins::parse(&["https://crm.example.com"]).unwrap();
        let api = Router::new().route("/v1/rules", get(|| async { "rules" }));
        with_dashboard_origins(crate::http::with_problem_fallback(api), origins)
    }

    async fn call(method: &str, origin: &str) -> Response {
        let request = Request::builder()
            .method(method)
            .uri("/v1/rules")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .unwrap();
        app().oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn a_listed_origin_gets_preflights_and_readable_answers() {
        let preflight = call("OPTIONS", "https://crm.example.com").await;
        assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
        let h = preflight.headers();
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://crm.example.com"
        );
        assert!(h[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap()
            .contains("authorization"));
        let get = call("GET", "https://CRM.example.com").await;
        assert_eq!(get.status(), StatusCode::OK);
        assert_eq!(
            get.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://CRM.example.com"
        );
        assert_eq!(get.headers()[header::VARY], "Origin");
    }

    #[tokio::test]
    async fn another_origin_gets_no_cors_headers() {
        for method in ["OPTIONS", "GET"] {
            let response = call(method, "https://evil.example.com").await;
            assert!(!response
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
        }
        assert_eq!(
            call("OPTIONS", "https://evil.example.com").await.status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn origins_are_checked() {
        assert!(DashboardOrigins::parse(&["crm.example.com"]).is_err());
        assert!(DashboardOrigins::parse(&["https://crm.example.com/app"]).is_err());
        assert!(DashboardOrigins::parse(&["https://"]).is_err());
        let ok = DashboardOrigins::parse(&["http://127.0.0.1:5173", " "]).unwrap();
        assert!(ok.allows("http://127.0.0.1:5173") && !ok.allows("http://127.0.0.1:5174"));
    }
}
