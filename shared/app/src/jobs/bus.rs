//! Every message CJaaS puts on its own bus, typed. Producers build a [`BusMessage`]
//! and publish it as a [`BusEvent`]; consumers read a [`BusEvent`] (or EventBridge's
//! source, detail-type and detail) back into one, or get an [`UnreadableMessage`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use cjaas_core::ids::TenantId;
use cjaas_core::ports::BusEvent;

use crate::failure::{AppError, ErrorKind};
use cjaas_core::ids::PersonId;

use crate::audiences::AudienceChange;
use crate::orchestration::ActionEvent;

/// A message on the CJaaS bus. Its variant is the EventBridge `detail-type`, its
/// content the `detail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "detail_type", content = "detail")]
pub enum BusMessage {
    /// `POST /v1/analytics/runs`: run this tenant's analytics now.
    AnalyticsRunRequested {
        tenant: TenantId,
        requested_at: Option<DateTime<Utc>>,
    },
    /// `DELETE /v1/persons/{person}`: run this erasure job.
    ErasureRequested { tenant: TenantId, job: String },
    /// `POST /v1/rules/{id}/backtest`: run this backtest job.
    BacktestRequested { tenant: TenantId, job: String },
    /// A rule fired: carry out this action.
    ActionTriggered(ActionEvent),
    /// An audience version was created or changed: backfill its membership.
    AudienceBackfillRequested {
        tenant: TenantId,
        audience: String,
        version: u32,
    },
    /// Alias links changed: evaluate these persons' groups against the audiences.
    AliasesChanged {
        tenant: TenantId,
        persons: Vec<PersonId>,
    },
    /// A person entered or left an audience (for the tenant's own consumers).
    AudienceMembershipChanged(AudienceChange),
}

/// A bus event that is not a [`BusMessage`]: logged and refused, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnreadableMessage {
    #[error("no CJaaS message is {origin} / {detail_type}")]
    Unexpected { origin: String, detail_type: String },
    #[error("malformed {detail_type} message: {reason}")]
    Malformed { detail_type: String, reason: String },
}

impl AppError for UnreadableMessage {
    /// Refused: the same message is refused again.
    fn kind(&self) -> ErrorKind {
        ErrorKind::BadRequest
    }

    fn code(&self) -> &'static str {
        match self {
            UnreadableMessage::Unexpected { .. } => "unexpected_event",
            UnreadableMessage::Malformed { .. } => "invalid_message",
        }
    }
}

impl BusMessage {
    /// The EventBridge `source` of each kind.
    pub fn source(&self) -> &'static str {
        match self {
            BusMessage::AnalyticsRunRequested { .. } => "cjaas.analytics",
            BusMessage::ErasureRequested { .. } => "cjaas.erasure",
            BusMessage::BacktestRequested { .. } => "cjaas.backtest",
            BusMessage::ActionTriggered(_) => "cjaas.actions",
            BusMessage::AudienceBackfillRequested { .. }
            | BusMessage::AliasesChanged { .. }
            | BusMessage::AudienceMembershipChanged(_) => "cjaas.audiences",
        }
    }

    pub fn detail_type(&self) -> &'static str {
        match self {
            BusMessage::AnalyticsRunRequested { .. } => "AnalyticsRunRequested",
            BusMessage::ErasureRequested { .. } => "ErasureRequested",
            BusMessage::BacktestRequested { .. } => "BacktestRequested",
            BusMessage::ActionTriggered(_) => "ActionTriggered",
            BusMessage::AudienceBackfillRequested { .. } => "AudienceBackfillRequested",
            BusMessage::AliasesChanged { .. } => "AliasesChanged",
            BusMessage::AudienceMembershipChanged(_) => "AudienceMembershipChanged",
        }
    }

    /// Reads EventBridge's parts: the source must be the one the detail type has.
    pub fn from_parts(
        source: &str,
        detail_type: &str,
        detail: Value,
    ) -> Result<Self, UnreadableMessage> {
        let unexpected = || UnreadableMessage::Unexpected {
            origin: source.to_owned(),
            detail_type: detail_type.to_owned(),
        };
        let tagged = serde_json::json!({ "detail_type": detail_type, "detail": detail });
        let message: BusMessage = match serde_json::from_value(tagged) {
            Ok(message) => message,
            Err(_) if !KNOWN.contains(&detail_type) => return Err(unexpected()),
            Err(e) => {
                return Err(UnreadableMessage::Malformed {
                    detail_type: detail_type.to_owned(),
                    reason: e.to_string(),
                })
            }
        };
        if message.source() != source {
            return Err(unexpected());
        }
        Ok(message)
    }
}

const KNOWN: [&str; 7] = [
    "AnalyticsRunRequested",
    "ErasureRequested",
    "BacktestRequested",
    "ActionTriggered",
    "AudienceBackfillRequested",
    "AliasesChanged",
    "AudienceMembershipChanged",
];

impl From<&BusMessage> for BusEvent {
    fn from(message: &BusMessage) -> Self {
        let tagged = serde_json::to_value(message).expect("bus messages serialize");
        BusEvent {
            source: message.source().into(),
            detail_type: message.detail_type().into(),
            detail: tagged["detail"].to_string(),
        }
    }
}

impl TryFrom<&BusEvent> for BusMessage {
    type Error = UnreadableMessage;

    fn try_from(event: &BusEvent) -> Result<Self, Self::Error> {
        let detail =
            serde_json::from_str(&event.detail).map_err(|e| UnreadableMessage::Malformed {
                detail_type: event.detail_type.clone(),
                reason: e.to_string(),
            })?;
        BusMessage::from_parts(&event.source, &event.detail_type, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    #[test]
    fn a_message_goes_through_the_bus_event_unchanged() {
        let messages = [
            BusMessage::AnalyticsRunRequested {
                tenant: tenant(),
                requested_at: Some(Utc::now()),
            },
            BusMessage::ErasureRequested {
                tenant: tenant(),
                job: "erasure-1".into(),
            },
            BusMessage::AudienceBackfillRequested {
                tenant: tenant(),
                audience: "audience-1".into(),
                version: 2,
            },
            BusMessage::AliasesChanged {
                tenant: tenant(),
                persons: vec![PersonId::parse("p-1").unwrap()],
            },
            BusMessage::BacktestRequested {
                tenant: tenant(),
                job: "backtest-1".into(),
            },
        ];
        for message in messages {
            let event = BusEvent::from(&message);
            assert_eq!(event.detail_type, message.detail_type());
            assert!(!event.detail.contains("detail_type"), "{}", event.detail);
            assert_eq!(BusMessage::try_from(&event).unwrap(), message);
        }
    }

    #[test]
    fn unknown_and_malformed_messages_are_typed_errors() {
        let event = |source: &str, detail_type: &str, detail: &str| BusEvent {
            source: source.into(),
            detail_type: detail_type.into(),
            detail: detail.into(),
        };
        let cases = [
            (event("cjaas.analytics", "Other", "{}"), "unexpected_event"),
            (
                event(
                    "someone.else",
                    "ErasureRequested",
                    r#"{"tenant":"acme","job":"j"}"#,
                ),
                "unexpected_event",
            ),
            (
                event("cjaas.erasure", "ErasureRequested", r#"{"tenant":"acme"}"#),
                "invalid_message",
            ),
            (
                event(
                    "cjaas.erasure",
                    "ErasureRequested",
                    r#"{"tenant":"No Such","job":"j"}"#,
                ),
                "invalid_message",
            ),
            (
                event("cjaas.erasure", "ErasureRequested", "not json"),
                "invalid_message",
            ),
        ];
        for (event, code) in cases {
            let error = BusMessage::try_from(&event).unwrap_err();
            assert_eq!(error.code(), code, "{event:?}: {error}");
        }
    }
}
