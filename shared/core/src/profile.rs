//! What progressive profiles keep besides the Tape: versioned views, alias links and
//! per-view snapshots, as documents under tenant-scoped keys.
//!
//! | document          | `pk`                        | `sk`                 |
//! |-------------------|-----------------------------|----------------------|
//! | view head         | `T#{tenant}#VIEWS`          | `{view id}`          |
//! | view version      | `T#{tenant}#VIEW#{id}`      | `{version:08}`       |
//!
//! The head carries the latest definition; each version is also archived under its
//! number, written after the head so that a failure never leaves a half-made version.
//! |                   |                             |                      |
//! | alias → person    | `T#{tenant}#ALIAS#{alias}`  | `TO`                 |
//! | person's aliases  | `T#{tenant}#LINKS#{person}` | `{alias}`            |
//! | profile snapshot  | `T#{tenant}#SNAP#{root}`    | `{view id}#{version}`|

use crate::resource_id::ResourceKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fold::ProfileState;
use crate::ids::{PersonId, TenantId};
use crate::view::ViewDefinition;

/// Most ids in one alias group (a person and everything linked to it).
pub const MAX_GROUP: usize = 100;
/// Longest chain of links followed to find a group's root.
pub const MAX_CHAIN: usize = 16;

pub mod keys {
    use super::*;

    pub fn views(tenant: &TenantId) -> String {
        format!("T#{tenant}#VIEWS")
    }

    pub fn view_versions(tenant: &TenantId, id: &str) -> String {
        format!("T#{tenant}#VIEW#{id}")
    }

    pub fn version(version: u32) -> String {
        format!("{version:08}")
    }

    pub fn alias(tenant: &TenantId, alias: &PersonId) -> String {
        format!("T#{tenant}#ALIAS#{alias}")
    }

    pub const ALIAS_TARGET: &str = "TO";

    pub fn links(tenant: &TenantId, person: &PersonId) -> String {
        format!("T#{tenant}#LINKS#{person}")
    }

    pub fn snapshots(tenant: &TenantId, root: &PersonId) -> String {
        format!("T#{tenant}#SNAP#{root}")
    }

    pub fn snapshot(view: &str, version: u32) -> String {
        format!("{view}#{version}")
    }
}

/// A view's current state: its latest version (definition included, so an update is
/// one conditional write), or that it was deleted. Earlier versions are archived as
/// [`StoredView`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewHead {
    pub id: String,
    pub name: String,
    pub latest: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<ViewDefinition>,
}

impl ViewHead {
    /// The latest version as a stored view.
    pub fn latest_view(&self) -> Option<StoredView> {
        Some(StoredView {
            id: self.id.clone(),
            version: self.latest,
            definition: self.definition.clone()?,
            created_at: self.updated_at,
        })
    }
}

/// One version of a view, never changed once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredView {
    pub id: String,
    pub version: u32,
    pub definition: ViewDefinition,
    pub created_at: DateTime<Utc>,
}

/// View ids: 1 to 64 of `a-z`, `0-9`, `-` and `_`.
/// A view id (see [`crate::resource_id`]).
pub fn valid_view_id(id: &str) -> bool {
    crate::resource_id::valid(id)
}

pub fn new_view_id() -> String {
    ResourceKind::View.new_id()
}

/// Where an alias points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasTarget {
    pub person: PersonId,
    pub linked_at: DateTime<Utc>,
}

/// How far a snapshot got in one member's Tape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberMark {
    pub person: PersonId,
    /// Entries folded from this member's Tape.
    pub count: u64,
    /// The greatest sort key folded from it.
    pub max_key: Option<String>,
}

/// A saved fold of a view over an alias group, without its windowed part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub members: Vec<MemberMark>,
    pub state: ProfileState,
    pub saved_at: DateTime<Utc>,
    /// When the first folded event leaves its tenant's retention (Unix seconds): from
    /// then on the snapshot counts an event that reads no longer see, so it is unusable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_first: Option<i64>,
}

impl Snapshot {
    /// The greatest sort key folded from any member.
    pub fn max_key(&self) -> Option<&str> {
        self.members
            .iter()
            .filter_map(|m| m.max_key.as_deref())
            .max()
    }

    pub fn mark(&self, person: &PersonId) -> Option<&MemberMark> {
        self.members.iter().find(|m| &m.person == person)
    }

    /// Whether the snapshot was made for exactly this group.
    pub fn covers(&self, group: &[PersonId]) -> bool {
        self.members.len() == group.len() && group.iter().all(|p| self.mark(p).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_document_key_starts_with_its_tenant() {
        let t = TenantId::parse("acme").unwrap();
        let p = PersonId::parse("alice").unwrap();
        for key in [
            keys::views(&t),
            keys::view_versions(&t, "v"),
            keys::alias(&t, &p),
            keys::links(&t, &p),
            keys::snapshots(&t, &p),
            crate::analytics::keys::analytics(&t),
            crate::analytics::keys::funnels(&t),
            crate::analytics::keys::digests(&t),
        ] {
            assert!(key.starts_with("T#acme#"), "{key}");
        }
        assert!(keys::version(2) > keys::version(1));
        assert!(
            keys::version(10) > keys::version(9),
            "versions sort as text"
        );
    }

    #[test]
    fn view_ids_are_key_safe() {
        assert!(valid_view_id(&new_view_id()));
        for bad in ["", "A", "a#b", "a b", &"a".repeat(65)] {
            assert!(!valid_view_id(bad), "{bad}");
        }
    }
}
