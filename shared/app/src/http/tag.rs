//! `GET /v1/tag.js`: the CJaaS browser tag (source in `web/tag/`, bundled into
//! `web/dist/tag.js`, which is committed and embedded here). It needs no credential:
//! the page's `data-key` (a publishable key) is what the tag's requests carry.
//!
//! - Cacheable: `public, max-age=3600, stale-while-revalidate=86400` with a strong
//!   `ETag`, so a returning visitor revalidates cheaply (`304`) and a new tag reaches
//!   every page within about an hour. The edge layer keeps this `Cache-Control`.
//! - Gzipped (level 9, once per process) for clients that accept it.
//! - `Access-Control-Allow-Origin: *`: a public file without credentials, so that a
//!   site may load it with `crossorigin` and Subresource Integrity.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::io::Write;

use super::validators::{if_none_match, strong_etag};
use std::sync::LazyLock;

/// The bundled tag, as `node web/build.mjs` writes it.
pub const TAG_JS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../web/dist/tag.js"
));
pub const TAG_PATH: &str = "/v1/tag.js";
const CACHE_CONTROL: &str = "public, max-age=3600, stale-while-revalidate=86400";
const CONTENT_TYPE: &str = "text/javascript; charset=utf-8";

struct Variant {
    body: Vec<u8>,
    etag: HeaderValue,
}

/// The tag as is, and gzipped; each with its own strong ETag (a hash of what is sent).
static PLAIN: LazyLock<Variant> = LazyLock::new(|| variant(TAG_JS.to_vec()));
static GZIPPED: LazyLock<Variant> = LazyLock::new(|| variant(gzip(TAG_JS)));

fn variant(body: Vec<u8>) -> Variant {
    let etag = strong_etag(&body);
    Variant { body, etag }
}

/// `bytes` gzipped at the highest level (`gzip -9`).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

pub fn tag_routes() -> Router {
    Router::new().route(TAG_PATH, get(serve_tag))
}

async fn serve_tag(headers: HeaderMap) -> Response {
    let gzipped = accepts_gzip(&headers);
    let chosen: &Variant = if gzipped { &GZIPPED } else { &PLAIN };
    let mut response = if if_none_match(&headers, &chosen.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, chosen.body.clone()).into_response()
    };
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    out.insert(header::ETAG, chosen.etag.clone());
    out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    out.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if gzipped {
        out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Whether `Accept-Encoding` lists `gzip` (or `*`) without `q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name == "gzip" || name == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{with_edge_headers, with_problem_fallback};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    /// The budget the issue sets for the tag, gzipped.
    const MAX_GZIPPED_BYTES: usize = 8 * 1024;

    async fn get(path: &str, headers: &[(&str, &str)]) -> Response {
        let router = with_edge_headers(with_problem_fallback(tag_routes()));
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        router
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn body(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    #[test]
    fn the_tag_fits_in_8_kb_gzipped() {
        let size = gzip(TAG_JS).len();
        println!("tag.js: {} bytes, {size} bytes gzip -9", TAG_JS.len());
        assert!(
            size <= MAX_GZIPPED_BYTES,
            "tag.js is {size} bytes gzipped, over {MAX_GZIPPED_BYTES}"
        );
        assert!(TAG_JS.starts_with(b"\"use strict\";") || TAG_JS.starts_with(b"(()=>{"));
    }

    #[tokio::test]
    async fn the_tag_is_served_cacheable_with_an_etag_through_the_edge_layer() {
        let response = get(TAG_PATH, &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers[header::CONTENT_TYPE], CONTENT_TYPE);
        assert_eq!(
            headers[header::CACHE_CONTROL],
            CACHE_CONTROL,
            "the edge layer keeps a handler's Cache-Control"
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(headers.get(header::CONTENT_ENCODING).is_none());
        assert_eq!(body(response).await, TAG_JS);

        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        let again = get(TAG_PATH, &[("if-none-match", &format!("W/{etag}, \"x\""))]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG], etag.as_str());
        assert!(body(again).await.is_empty());
        let stale = get(TAG_PATH, &[("if-none-match", "\"other\"")]).await;
        assert_eq!(stale.status(), StatusCode::OK);

        // Other routes keep no-store.
        let missing = get("/v1/nope", &[]).await;
        assert_eq!(missing.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[tokio::test]
    async fn the_tag_is_gzipped_for_clients_that_accept_it() {
        let response = get(TAG_PATH, &[("accept-encoding", "br, gzip;q=0.8")]).await;
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        let etag = response.headers()[header::ETAG].clone();
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&body(response).await[..]),
            &mut inflated,
        )
        .unwrap();
        assert_eq!(inflated, TAG_JS);
        assert_ne!(etag, PLAIN.etag, "each encoding has its own ETag");
        let refused = get(TAG_PATH, &[("accept-encoding", "gzip;q=0, identity")]).await;
        assert!(refused.headers().get(header::CONTENT_ENCODING).is_none());
    }
}
