//! The browser's static files, embedded in the binary (built into `web/dist`, which is
//! committed, so no npm is needed to build or run):
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the console (`web/console`) |
//! | `GET /console/app.js`, `/console/console.css` | its script and style |
//! | `GET /v1/components.js` | the web components (`web/components`) |
//! | `GET /docs` | the API reference (Swagger UI over `docs/openapi.yaml`) |
//! | `GET /docs/openapi.yaml` | the OpenAPI document itself |
//!
//! None takes a credential: they hold no data, and the pages call the API with the
//! credential their user pastes. Each answer carries a strong `ETag` and
//! `Cache-Control: no-cache`, so a browser revalidates (a `304` costs no body) and a
//! new release is picked up at once.

use std::sync::{Arc, OnceLock};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::validators::{if_none_match, strong_etag};

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const YAML: &str = "application/yaml";

/// The console's and the reference's pages may load only what CJaaS serves and call
/// only CJaaS (Swagger UI sets inline styles and shows inline images).
const PAGE_POLICY: &str =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

struct Asset {
    path: &'static str,
    body: &'static [u8],
    content_type: &'static str,
}

macro_rules! dist {
    ($file:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../web/dist/",
            $file
        ))
    };
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        body: dist!("console/index.html"),
        content_type: HTML,
    },
    Asset {
        path: "/console/app.js",
        body: dist!("console/app.js"),
        content_type: JS,
    },
    Asset {
        path: "/console/console.css",
        body: dist!("console/console.css"),
        content_type: CSS,
    },
    Asset {
        path: "/v1/components.js",
        body: dist!("components.js"),
        content_type: JS,
    },
    Asset {
        path: "/docs",
        body: dist!("docs/index.html"),
        content_type: HTML,
    },
    Asset {
        path: "/docs/init.js",
        body: dist!("docs/init.js"),
        content_type: JS,
    },
    Asset {
        path: "/docs/swagger-ui-bundle.js",
        body: dist!("docs/swagger-ui-bundle.js"),
        content_type: JS,
    },
    Asset {
        path: "/docs/swagger-ui.css",
        body: dist!("docs/swagger-ui.css"),
        content_type: CSS,
    },
    Asset {
        path: "/docs/openapi.yaml",
        body: include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/openapi.yaml"
        )),
        content_type: YAML,
    },
];

/// Every path [`asset_routes`] serves (API Gateway needs a route for each).
pub fn asset_paths() -> Vec<&'static str> {
    ASSETS.iter().map(|a| a.path).collect()
}

/// `GET` (and `HEAD`) of every embedded asset, without authentication. Each asset's
/// `ETag` is hashed on its first request, not when the router is built: hashing all
/// 2.5 MB took about 6 ms of every cold start of the function that serves them.
pub fn asset_routes() -> Router {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        let etag = Arc::new(OnceLock::new());
        router.route(
            asset.path,
            get(move |headers: HeaderMap| async move {
                serve(
                    asset,
                    etag.get_or_init(|| strong_etag(asset.body)),
                    &headers,
                )
            }),
        )
    })
}

fn serve(asset: &'static Asset, etag: &HeaderValue, request: &HeaderMap) -> Response {
    let mut response = if if_none_match(request, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::ETAG, etag.clone());
    if asset.content_type == HTML {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::extract::Request;
    use tower::ServiceExt;

    async fn get(path: &str, etag: Option<&str>) -> Response {
        let mut request = Request::builder().uri(path);
        if let Some(tag) = etag {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        let app = crate::http::with_edge_headers(asset_routes());
        app.oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn every_asset_is_served_without_a_credential_with_its_type() {
        for asset in ASSETS {
            let response = get(asset.path, None).await;
            assert_eq!(response.status(), StatusCode::OK, "{}", asset.path);
            assert_eq!(response.headers()[header::CONTENT_TYPE], asset.content_type);
            // The handler's Cache-Control survives the edge layer (which sets no-store).
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
            assert_eq!(
                response.headers()[header::X_CONTENT_TYPE_OPTIONS],
                "nosniff"
            );
            let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
            assert_eq!(body.len(), asset.body.len());
            assert!(!body.is_empty(), "{} is empty", asset.path);
        }
    }

    #[tokio::test]
    async fn a_matching_etag_is_a_304_and_pages_carry_a_policy() {
        let first = get("/", None).await;
        assert!(first.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("connect-src 'self'"));
        let tag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
        let again = get("/", Some(&tag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(to_bytes(again.into_body(), 16).await.unwrap().is_empty());
        let other = get("/", Some("\"stale\"")).await;
        assert_eq!(other.status(), StatusCode::OK);
    }

    #[test]
    fn the_template_routes_every_asset_without_the_authorizer() {
        let template = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../infra/template.yaml"
        ));
        for path in asset_paths() {
            let route = format!("Method: GET\n            Path: {path}\n            Auth:\n              Authorizer: NONE\n");
            assert!(
                template.contains(&route),
                "infra/template.yaml has no public GET {path}"
            );
        }
    }
}
