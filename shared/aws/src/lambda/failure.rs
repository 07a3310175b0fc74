//! How an event handler fails: the Lambda error type is a stable code, the message
//! says what happened. The jobs' own errors map here once.

use lambda_runtime::Diagnostic;

use cjaas_app::jobs::{JobFailed, OperationFailed, UnknownTenant, UnreadableMessage};

/// A failed invocation, reported as the Lambda error type and message.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct CommandFailed {
    pub code: &'static str,
    pub detail: String,
}

impl From<CommandFailed> for Diagnostic {
    fn from(e: CommandFailed) -> Self {
        Diagnostic {
            error_type: e.code.to_owned(),
            error_message: e.detail,
        }
    }
}

impl From<OperationFailed> for CommandFailed {
    fn from(e: OperationFailed) -> Self {
        CommandFailed {
            code: e.code,
            detail: e.detail,
        }
    }
}

impl From<JobFailed> for CommandFailed {
    fn from(e: JobFailed) -> Self {
        tracing::error!(error = %e, "job failed; the invocation fails so that it is retried");
        CommandFailed {
            code: e.code(),
            detail: e.to_string(),
        }
    }
}

impl From<UnreadableMessage> for CommandFailed {
    fn from(e: UnreadableMessage) -> Self {
        tracing::warn!(error = %e, "bus message refused");
        CommandFailed {
            code: e.code(),
            detail: e.to_string(),
        }
    }
}

impl From<UnknownTenant> for CommandFailed {
    fn from(e: UnknownTenant) -> Self {
        CommandFailed {
            code: "unknown_tenant",
            detail: e.to_string(),
        }
    }
}

/// A handler got a message that is not its own.
pub(crate) fn not_mine(function: &str, source: &str, detail_type: &str) -> CommandFailed {
    tracing::warn!(source, detail_type, "event refused");
    CommandFailed {
        code: "unexpected_event",
        detail: format!("the {function} function does not handle {source} / {detail_type}"),
    }
}

/// A store failure outside any tenant's job (e.g. an action's run).
pub(crate) fn store_unavailable(e: impl std::fmt::Display) -> CommandFailed {
    CommandFailed {
        code: "store_unavailable",
        detail: e.to_string(),
    }
}
