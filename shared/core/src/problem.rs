//! The one field-level problem type: why a submitted document (analytics settings, a
//! funnel, a rule, a forwarding destination) was refused, by field.

use serde::Serialize;

/// A field-level reason why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub code: &'static str,
    pub detail: String,
}

impl FieldProblem {
    pub fn new(field: impl Into<String>, code: &'static str, detail: impl Into<String>) -> Self {
        FieldProblem {
            field: field.into(),
            code,
            detail: detail.into(),
        }
    }
}
