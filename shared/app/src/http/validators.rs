//! HTTP validators for the embedded static files (the tag, the console, components and
//! docs): one strong `ETag` scheme and one `If-None-Match` check for both.

use axum::http::{header, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

/// A strong `ETag` of exactly the bytes sent: the first 128 bits of their SHA-256, so it
/// is the same on every instance and in every build of the same content.
pub(crate) fn strong_etag(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    HeaderValue::from_str(&etag).expect("quoted hex is a valid header value")
}

/// `If-None-Match` names `etag` (weakly compared, as RFC 9110 requires for this
/// header) or is `*`: the client's copy is current.
pub(crate) fn if_none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.to_str().unwrap_or_default();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == ours)
}
