//! How an event handler fails: the Lambda error type is the failure's stable code,
//! the message says what happened. Every job error reaches it through
//! `cjaas_app::failure::Failure`, its one conversion.

use lambda_runtime::Diagnostic;

use cjaas_app::failure::Failure;

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

impl From<Failure> for CommandFailed {
    fn from(e: Failure) -> Self {
        CommandFailed {
            code: e.code,
            detail: e.detail,
        }
    }
}
