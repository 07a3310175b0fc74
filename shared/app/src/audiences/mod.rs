//! Audiences: definitions (versioned, like views), membership kept current as events
//! land, as time passes and as alias groups change, membership changes appended to
//! the Tape (`cjaas.audience.entered` / `cjaas.audience.exited`) and published on the
//! CJaaS bus, and a backfill over existing Tapes when a definition is created or
//! changed. See `docs/ORCHESTRATION.md`, "Audiences".
//!
//! - **Exactly once per change.** A person's membership row carries a change
//!   sequence. A change's event id is derived from the audience, its version, the
//!   person and the next sequence number, and is put on the stream (then published
//!   on the bus) *before* the row is written conditionally. A retry recomputes the
//!   same change with the same id, which the Tape deduplicates; of two concurrent
//!   evaluations, one writes the row and the other reads it and finds nothing to do.
//! - **No loops.** `cjaas.audience.*` events are never an audience's input.
//! - **Backfill fires no rule.** Its events carry the source
//!   `cjaas://audiences/{id}/backfill`, which the orchestrator skips like every other
//!   `cjaas://` source; live changes (`cjaas://audiences/{id}`) may trigger rules.
//! - **Alias groups.** Membership belongs to the group's root; a person linked into
//!   another group leaves its audiences (`reason: aliases`), and the group is
//!   evaluated again.

mod backfill;
mod definitions;
mod erase;
mod membership;
mod reads;

pub use backfill::BackfillStatus;
pub use definitions::Audiences;
pub use erase::erase_memberships;
pub use membership::{AudienceChange, AudienceRef, Cause, Membership, MembershipReport};
pub use reads::{MemberPage, MemberView, PersonAudience, SizePoint, MAX_SERIES_DAYS};

use crate::failure::{problems, AppError, ErrorKind};
use cjaas_core::audience::MAX_AUDIENCES;
use cjaas_core::ports::StoreError;
use cjaas_core::problem::FieldProblem;

#[derive(Debug, thiserror::Error)]
pub enum AudienceError {
    #[error("the audience is invalid; nothing was stored")]
    Invalid(Vec<FieldProblem>),
    #[error("no audience {0}")]
    NotFound(String),
    #[error("audience {0} has no version {1}")]
    VersionNotFound(String, u32),
    #[error("a tenant has at most {MAX_AUDIENCES} audiences")]
    TooMany,
    #[error("a concurrent change won; read the current state and try again")]
    Conflict,
    #[error("{0}")]
    InvalidQuery(String),
    /// The person's alias group could not be read (e.g. `group_too_large`).
    #[error(transparent)]
    Profile(crate::profiles::ProfileError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AppError for AudienceError {
    fn kind(&self) -> ErrorKind {
        match self {
            AudienceError::Invalid(_) => ErrorKind::Invalid,
            AudienceError::NotFound(_) | AudienceError::VersionNotFound(..) => ErrorKind::NotFound,
            AudienceError::TooMany | AudienceError::Conflict => ErrorKind::Conflict,
            AudienceError::InvalidQuery(_) => ErrorKind::BadRequest,
            AudienceError::Profile(e) => e.kind(),
            AudienceError::Store(e) => e.kind(),
        }
    }
    fn code(&self) -> &'static str {
        AudienceError::code(self)
    }
    fn problems(&self) -> Option<serde_json::Value> {
        match self {
            AudienceError::Invalid(items) => problems(items),
            _ => None,
        }
    }
    fn wraps(&self) -> Option<&dyn AppError> {
        match self {
            AudienceError::Profile(e) => Some(e),
            AudienceError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl AudienceError {
    pub fn code(&self) -> &'static str {
        match self {
            AudienceError::Invalid(_) => "invalid_audience",
            AudienceError::NotFound(_) => "audience_not_found",
            AudienceError::VersionNotFound(..) => "version_not_found",
            AudienceError::TooMany => "too_many_audiences",
            AudienceError::Conflict => "conflict",
            AudienceError::InvalidQuery(_) => "invalid_query",
            AudienceError::Profile(e) => e.code(),
            AudienceError::Store(_) => "store_unavailable",
        }
    }
}
