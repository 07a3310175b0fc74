//! What surrounds the messages: gzip bodies, and the settings analytics.js and
//! RudderStack's browser SDK read before they send.

use serde_json::{json, Value};
use std::io::Read;

use super::{SegmentError, MAX_BATCH_BYTES};

/// What `GET /v1/projects/{writeKey}/settings` answers: the part of Segment's CDN
/// settings that analytics.js reads before it sends, pointing it at `api_host`
/// (`host[:port]/v1`, without the scheme, as analytics.js expects).
pub fn project_settings(write_key: &str, api_host: &str, protocol: &str) -> Value {
    let enabled = json!({"__default": {"enabled": true, "integrations": {}}});
    json!({
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": api_host,
                "protocol": protocol,
                "addBundledMetadata": false,
                "unbundledIntegrations": [],
                "maybeBundledConfigIds": {},
                "versionSettings": {"version": "4.4.7", "componentTypes": ["browser"]}
            }
        },
        "plan": {"track": enabled, "identify": enabled, "group": enabled},
        "edgeFunction": {},
        "analyticsNextEnabled": true,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": false,
        "remotePlugins": []
    })
}

/// What `GET /sourceConfig` answers: the source config RudderStack's browser SDK
/// loads first. An enabled source with no device-mode destinations, so the SDK sends
/// every call to its data plane (here), and with its error and metrics reporting off,
/// so it posts nothing to RudderStack's own services.
pub fn source_config(source_id: &str, tenant: &str) -> Value {
    let off = json!({"enabled": false});
    json!({
        "isHosted": false,
        "source": {
            "id": source_id,
            "name": "CJaaS",
            "workspaceId": tenant,
            "enabled": true,
            "config": {"statsCollection": {"errors": off, "metrics": off}},
            "destinations": []
        }
    })
}

/// Inflates a gzip body, refusing anything that inflates past [`MAX_BATCH_BYTES`].
pub fn gunzip(body: &[u8]) -> Result<Vec<u8>, SegmentError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .take(MAX_BATCH_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| SegmentError::BadGzip(e.to_string()))?;
    if out.len() > MAX_BATCH_BYTES {
        return Err(SegmentError::BatchTooLarge);
    }
    Ok(out)
}
