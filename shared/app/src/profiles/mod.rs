//! Progressive profiles: versioned views, soft identity aliases, and profiles folded
//! from the Tape on read, with snapshots so a repeated read only folds what is new.

mod aliases;
mod build;
mod journeys;
mod views;

pub use aliases::{AliasView, Aliases};
pub use build::{ProfileResult, Profiles, ReadStats, SnapshotUse, ViewKey};
pub use journeys::Journeys;
pub use views::Views;

use cjaas_core::ids::PersonId;
use cjaas_core::ports::StoreError;
use cjaas_core::profile::MAX_GROUP;
use cjaas_core::view::ViewProblem;

use crate::failure::{problems, AppError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("the view is invalid")]
    InvalidView(Vec<ViewProblem>),
    #[error("no view {0}")]
    ViewNotFound(String),
    #[error("no version {1} of view {0}")]
    VersionNotFound(String, u32),
    #[error("a concurrent change won; read the current state and try again")]
    Conflict,
    #[error("{alias} is already linked to {owner}; send \"move\": true to move it")]
    AliasTaken { alias: PersonId, owner: PersonId },
    #[error("linking {0} here would make a cycle of aliases")]
    AliasCycle(PersonId),
    #[error("a person cannot be its own alias")]
    SelfLink,
    #[error("{0} is not an alias of this person")]
    AliasNotFound(PersonId),
    #[error("an alias group holds at most {MAX_GROUP} ids")]
    GroupTooLarge,
    #[error("{0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ProfileError {
    pub fn code(&self) -> &'static str {
        match self {
            ProfileError::InvalidView(_) => "invalid_view",
            ProfileError::ViewNotFound(_) => "view_not_found",
            ProfileError::VersionNotFound(..) => "version_not_found",
            ProfileError::Conflict => "conflict",
            ProfileError::AliasTaken { .. } => "alias_taken",
            ProfileError::AliasCycle(_) => "alias_cycle",
            ProfileError::SelfLink => "self_link",
            ProfileError::AliasNotFound(_) => "alias_not_found",
            ProfileError::GroupTooLarge => "group_too_large",
            ProfileError::InvalidRequest(_) => "invalid_request",
            ProfileError::Store(_) => "store_unavailable",
        }
    }
}

impl AppError for ProfileError {
    fn kind(&self) -> ErrorKind {
        match self {
            ProfileError::InvalidView(_) => ErrorKind::Invalid,
            ProfileError::ViewNotFound(_)
            | ProfileError::VersionNotFound(..)
            | ProfileError::AliasNotFound(_) => ErrorKind::NotFound,
            ProfileError::Conflict
            | ProfileError::AliasTaken { .. }
            | ProfileError::AliasCycle(_) => ErrorKind::Conflict,
            ProfileError::SelfLink | ProfileError::GroupTooLarge => ErrorKind::Invalid,
            ProfileError::InvalidRequest(_) => ErrorKind::BadRequest,
            ProfileError::Store(e) => e.kind(),
        }
    }
    fn code(&self) -> &'static str {
        ProfileError::code(self)
    }
    fn public_detail(&self) -> String {
        match self {
            ProfileError::InvalidView(_) => "the view is invalid; nothing was stored".into(),
            _ => self.to_string(),
        }
    }
    fn problems(&self) -> Option<serde_json::Value> {
        match self {
            ProfileError::InvalidView(items) => problems(items),
            _ => None,
        }
    }
    fn wraps(&self) -> Option<&dyn AppError> {
        match self {
            ProfileError::Store(e) => Some(e),
            _ => None,
        }
    }
}
