//! Carries out the actions a rule fired (see [`crate::orchestration`]): signed
//! webhooks, recommendations appended to the person's Tape, and tenant enrichment
//! callbacks whose answer is appended as an event. Calls are retried with backoff;
//! what still fails goes to the dead letters with its full payload.
//!
//! **Signature.** Every call carries `CJaaS-Signature: t={unix seconds},v1={hex}`,
//! where `hex` is HMAC-SHA256 of `{t}.{body}` under the tenant's webhook secret
//! (`GET /v1/rules/webhook-secret`), and `CJaaS-Action-Id`, stable across retries.
//!
//! **Targets.** Calls go to public addresses only, checked after DNS resolution, and
//! redirects are not followed (see [`crate::targets`]); a refused call is not retried.

use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

use cjaas_core::dead_letters::ACTION_ORIGIN_PREFIX;
use cjaas_core::deliveries::{Attempt, DeliveryStatus};
use cjaas_core::event::validate_raw;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{DeadLetter, DeadLetterSink, DocumentStore, StoreError};
use cjaas_core::rules::ActionSpec;
use cjaas_core::target::TargetPolicy;

use crate::deliveries::DeliveryLog;
use crate::ingest::Ingestor;
use crate::orchestration::{webhook_secret, ActionEvent, OWN_SOURCE_PREFIX};
use crate::targets::{checked_url, guarded_client, refused};

/// Attempts per call, and the first backoff (doubled each time).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const TIMEOUT: Duration = Duration::from_secs(10);
const USER_AGENT: &str = "CJaaS-Actions/1";
/// The largest enrichment answer taken.
const MAX_ENRICHMENT_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    Delivered,
    Appended,
    /// Only published on the bus: nothing for CJaaS to do.
    Published,
    DeadLettered,
}

pub struct ActionRunner {
    http: reqwest::Client,
    targets: TargetPolicy,
    docs: Arc<dyn DocumentStore>,
    ingestor: Arc<Ingestor>,
    dead_letters: Arc<dyn DeadLetterSink>,
}

/// `t={t},v1={hex}`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Why a call failed, and whether trying again can help.
struct CallFailure {
    retry: bool,
    reason: String,
}

/// A network error is worth retrying; a target the resolver refused is not.
fn send_failure(error: reqwest::Error) -> CallFailure {
    match refused(&error) {
        Some(reason) => CallFailure {
            retry: false,
            reason,
        },
        None => CallFailure {
            retry: true,
            reason: error.to_string(),
        },
    }
}

/// 429 and 5xx are retried; a redirect is not followed.
fn status_failure(status: reqwest::StatusCode) -> CallFailure {
    let redirect = if status.is_redirection() {
        " (redirects are not followed)"
    } else {
        ""
    };
    CallFailure {
        retry: status.is_server_error() || status.as_u16() == 429,
        reason: format!("the endpoint answered {status}{redirect}"),
    }
}

impl ActionRunner {
    pub fn new(
        docs: Arc<dyn DocumentStore>,
        ingestor: Arc<Ingestor>,
        dead_letters: Arc<dyn DeadLetterSink>,
    ) -> Self {
        let targets = TargetPolicy::public_only();
        Self {
            http: guarded_client(&targets, TIMEOUT, USER_AGENT),
            targets,
            docs,
            ingestor,
            dead_letters,
        }
    }

    /// Calls only the targets `targets` allows (public ones by default).
    pub fn with_targets(mut self, targets: TargetPolicy) -> Self {
        self.http = guarded_client(&targets, TIMEOUT, USER_AGENT);
        self.targets = targets;
        self
    }

    /// Carries out the action and records what happened in the rule's delivery log.
    pub async fn run(&self, action: &ActionEvent) -> Result<ActionOutcome, StoreError> {
        let started = std::time::Instant::now();
        let mut attempts = Vec::new();
        let result = self.carry_out(action, &mut attempts).await;
        self.record(action, &result, attempts, started).await;
        result
    }

    /// Best effort: the action's outcome stands whether or not the log took it.
    async fn record(
        &self,
        action: &ActionEvent,
        result: &Result<ActionOutcome, StoreError>,
        attempts: Vec<Attempt>,
        started: std::time::Instant,
    ) {
        let status = match result {
            Ok(ActionOutcome::Delivered) => DeliveryStatus::Delivered,
            Ok(ActionOutcome::Appended) => DeliveryStatus::Appended,
            Ok(ActionOutcome::Published) => DeliveryStatus::Published,
            Ok(ActionOutcome::DeadLettered) => DeliveryStatus::DeadLettered,
            Err(_) => DeliveryStatus::Failed,
        };
        let latency = started.elapsed().as_millis() as u64;
        if let Err(e) = DeliveryLog::new(self.docs.clone())
            .record_action(action, status, attempts, latency)
            .await
        {
            tracing::warn!(action = %action.action_id, error = %e, "delivery not recorded");
        }
    }

    async fn carry_out(
        &self,
        action: &ActionEvent,
        attempts: &mut Vec<Attempt>,
    ) -> Result<ActionOutcome, StoreError> {
        let tenant =
            TenantId::parse(&action.tenant).map_err(|e| StoreError::Rejected(e.to_string()))?;
        match &action.action {
            ActionSpec::Publish { .. } => Ok(ActionOutcome::Published),
            ActionSpec::Webhook { url, payload } => {
                let body = json!({
                    "action_id": action.action_id, "person": action.person, "rule": action.rule,
                    "fired_at": action.fired_at, "triggering_event": action.triggering_event,
                    "payload": payload,
                });
                match self.call(&tenant, action, url, &body, attempts).await? {
                    Ok(_) => Ok(ActionOutcome::Delivered),
                    Err(reason) => {
                        self.dead_letter(&tenant, action, "webhook_failed", reason)
                            .await
                    }
                }
            }
            ActionSpec::Recommendation {
                action: name,
                payload,
            } => {
                let data = json!({"action": name, "payload": payload, "rule": action.rule});
                self.append(
                    &tenant,
                    action,
                    "cjaas.recommendation",
                    "orchestrator",
                    data,
                )
                .await
            }
            ActionSpec::Enrichment { url } => {
                let body = json!({
                    "action_id": action.action_id, "person": action.person, "rule": action.rule,
                    "event": action.triggering_event,
                });
                match self.call(&tenant, action, url, &body, attempts).await? {
                    Ok(Value::Object(fields)) if !fields.is_empty() => {
                        let data = json!({"fields": fields, "rule": action.rule,
                            "enriched_event": action.triggering_event.get("id")});
                        self.append(&tenant, action, "cjaas.enrichment", "enrichment", data)
                            .await
                    }
                    Ok(_) => Ok(ActionOutcome::Delivered),
                    Err(reason) => {
                        self.dead_letter(&tenant, action, "enrichment_failed", reason)
                            .await
                    }
                }
            }
        }
    }

    /// A signed POST, retried with backoff on network errors, 429 and 5xx. The inner
    /// `Err` is a call that failed for good; the outer one a store failure.
    async fn call(
        &self,
        tenant: &TenantId,
        action: &ActionEvent,
        url: &str,
        body: &Value,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Result<Value, String>, StoreError> {
        let secret = webhook_secret(self.docs.as_ref(), tenant).await?;
        let bytes = serde_json::to_vec(body).expect("JSON serializes");
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 1)).await;
            }
            let (started_at, clock) = (Utc::now(), std::time::Instant::now());
            let posted = self.post(&secret, action, url, &bytes).await;
            attempts.push(attempt_of(attempt, started_at, clock, &posted));
            match posted {
                Ok(answer) => return Ok(Ok(answer)),
                Err(CallFailure { retry, reason }) => {
                    tracing::warn!(action = %action.action_id, attempt, %reason, "action call failed");
                    last = reason;
                    if !retry {
                        break;
                    }
                }
            }
        }
        Ok(Err(last))
    }

    async fn post(
        &self,
        secret: &str,
        action: &ActionEvent,
        url: &str,
        body: &[u8],
    ) -> Result<Value, CallFailure> {
        let url = checked_url(&self.targets, url).map_err(|reason| CallFailure {
            retry: false,
            reason,
        })?;
        let signed = signature(secret, Utc::now().timestamp(), body);
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("cjaas-signature", signed)
            .header("cjaas-action-id", &action.action_id)
            .body(body.to_vec())
            .send()
            .await
            .map_err(send_failure)?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_failure(status));
        }
        let bytes = response.bytes().await.map_err(|e| CallFailure {
            retry: true,
            reason: e.to_string(),
        })?;
        if bytes.len() > MAX_ENRICHMENT_BYTES {
            return Err(CallFailure {
                retry: false,
                reason: format!("the answer exceeds {MAX_ENRICHMENT_BYTES} bytes"),
            });
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Appends an event to the person's Tape through ingest. Its id is the action id,
    /// so a retried action appends once.
    async fn append(
        &self,
        tenant: &TenantId,
        action: &ActionEvent,
        ty: &str,
        origin: &str,
        data: Value,
    ) -> Result<ActionOutcome, StoreError> {
        let now = Utc::now();
        let event = json!({
            "specversion": "1.0", "id": action.action_id, "type": ty,
            "source": format!("{OWN_SOURCE_PREFIX}{origin}/{}", action.rule.id),
            "person": action.person, "time": now, "datacontenttype": "application/json", "data": data,
        });
        let valid =
            validate_raw(0, &event.to_string(), now).map_err(|p| StoreError::Rejected(p.detail))?;
        self.ingestor
            .publish(tenant, now, &[valid])
            .await
            .map_err(|e| StoreError::Transient(e.to_string()))?;
        Ok(ActionOutcome::Appended)
    }

    /// Keeps the whole action (as the bus carried it), so a redrive can publish it
    /// again.
    async fn dead_letter(
        &self,
        tenant: &TenantId,
        action: &ActionEvent,
        code: &str,
        reason: String,
    ) -> Result<ActionOutcome, StoreError> {
        let letter = DeadLetter {
            origin: format!("{ACTION_ORIGIN_PREFIX}{}", action.action_id),
            tenant: Some(tenant.to_string()),
            code: code.to_owned(),
            reason,
            failed_at: Utc::now(),
            payload_base64: base64::engine::general_purpose::STANDARD
                .encode(serde_json::to_vec(action).expect("JSON")),
        };
        self.dead_letters.put(&letter).await?;
        tracing::warn!(action = %action.action_id, code, "action dead-lettered");
        Ok(ActionOutcome::DeadLettered)
    }
}

/// One call's record for the delivery log.
fn attempt_of(
    attempt: u32,
    started_at: chrono::DateTime<Utc>,
    clock: std::time::Instant,
    posted: &Result<Value, CallFailure>,
) -> Attempt {
    let latency = clock.elapsed().as_millis() as u64;
    let error = posted.as_ref().err().map(|f| f.reason.clone());
    Attempt::new(attempt + 1, started_at, latency, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_time_and_body() {
        // Python: hmac.new(b"whsec_test", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            signature("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        assert_ne!(
            signature("other", 1_700_000_000, br#"{"a":1}"#),
            signature("whsec_test", 1_700_000_000, br#"{"a":1}"#)
        );
    }
}
