//! Versioned views: each update is a new version, and the old ones stay readable.
use chrono::Utc;
use std::sync::Arc;

use crate::documents::{decode, encode};
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{DocumentStore, Expect, StoreError};
use cjaas_core::problem::FieldProblem;
use cjaas_core::profile::{keys, new_view_id, valid_view_id, StoredView, ViewHead};
use cjaas_core::view::ViewDefinition;

use super::ProfileError;

pub struct Views {
    docs: Arc<dyn DocumentStore>,
}

impl Views {
    pub fn new(docs: Arc<dyn DocumentStore>) -> Self {
        Self { docs }
    }

    /// A `when` problem (`unknown_view`) for each view a condition reads that the
    /// tenant does not have; rules and audiences check their conditions with it.
    pub async fn unknown_in_condition<'a>(
        &self,
        tenant: &TenantId,
        views: impl IntoIterator<Item = &'a String>,
    ) -> Result<Vec<FieldProblem>, StoreError> {
        let mut problems = Vec::new();
        for view in views {
            match self.get(tenant, view, None).await {
                Ok(_) => {}
                Err(ProfileError::Store(e)) => return Err(e),
                Err(_) => problems.push(FieldProblem {
                    field: "when".into(),
                    code: "unknown_view",
                    detail: format!("no view {view} in this tenant"),
                }),
            }
        }
        Ok(problems)
    }

    /// Stores a new view as version 1.
    pub async fn create(
        &self,
        tenant: &TenantId,
        definition: ViewDefinition,
    ) -> Result<StoredView, ProfileError> {
        definition.compile().map_err(ProfileError::InvalidView)?;
        let now = Utc::now();
        let head = ViewHead {
            id: new_view_id(),
            name: definition.name.clone(),
            latest: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            definition: Some(definition),
        };
        self.put_head(tenant, &head, Expect::Absent).await?;
        self.archive(tenant, &head).await
    }

    /// Makes a new version with one conditional write of the head; a concurrent update
    /// loses with a conflict and leaves nothing behind. Earlier versions stay readable.
    pub async fn update(
        &self,
        tenant: &TenantId,
        id: &str,
        definition: ViewDefinition,
    ) -> Result<StoredView, ProfileError> {
        definition.compile().map_err(ProfileError::InvalidView)?;
        let (mut head, revision) = self.live_head(tenant, id).await?;
        // The current version's archive copy may be missing if its writer crashed.
        self.archive(tenant, &head).await?;
        head.latest += 1;
        head.name = definition.name.clone();
        head.updated_at = Utc::now();
        head.definition = Some(definition);
        self.put_head(tenant, &head, Expect::Revision(revision))
            .await?;
        self.archive(tenant, &head).await
    }

    /// Writes the head if `expect` holds; a concurrent writer that won is a conflict.
    async fn put_head(
        &self,
        tenant: &TenantId,
        head: &ViewHead,
        expect: Expect,
    ) -> Result<(), ProfileError> {
        let written = self
            .docs
            .put(&keys::views(tenant), &head.id, &encode(head), expect)
            .await?;
        if written {
            Ok(())
        } else {
            Err(ProfileError::Conflict)
        }
    }

    /// Copies the head's version into the archive (idempotent).
    async fn archive(
        &self,
        tenant: &TenantId,
        head: &ViewHead,
    ) -> Result<StoredView, ProfileError> {
        let view = head
            .latest_view()
            .ok_or_else(|| ProfileError::ViewNotFound(head.id.clone()))?;
        let (pk, sk) = (
            keys::view_versions(tenant, &view.id),
            keys::version(view.version),
        );
        self.docs
            .put(&pk, &sk, &encode(&view), Expect::Anything)
            .await?;
        Ok(view)
    }

    async fn head(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<(ViewHead, u64)>, ProfileError> {
        if !valid_view_id(id) {
            return Ok(None);
        }
        match self.docs.get(&keys::views(tenant), id).await? {
            Some(document) => Ok(Some((decode(&document.body)?, document.revision))),
            None => Ok(None),
        }
    }

    async fn live_head(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<(ViewHead, u64), ProfileError> {
        match self.head(tenant, id).await? {
            Some((head, revision)) if head.deleted_at.is_none() => Ok((head, revision)),
            _ => Err(ProfileError::ViewNotFound(id.to_owned())),
        }
    }

    /// The latest version, or a given one (readable even after the view is deleted).
    pub async fn get(
        &self,
        tenant: &TenantId,
        id: &str,
        version: Option<u32>,
    ) -> Result<StoredView, ProfileError> {
        let Some(version) = version else {
            let (head, _) = self.live_head(tenant, id).await?;
            return head
                .latest_view()
                .ok_or_else(|| ProfileError::ViewNotFound(id.to_owned()));
        };
        let Some((head, _)) = self.head(tenant, id).await? else {
            return Err(ProfileError::ViewNotFound(id.to_owned()));
        };
        if version == head.latest {
            return head
                .latest_view()
                .ok_or_else(|| ProfileError::ViewNotFound(id.to_owned()));
        }
        let document = self
            .docs
            .get(&keys::view_versions(tenant, id), &keys::version(version))
            .await?
            .ok_or_else(|| ProfileError::VersionNotFound(id.to_owned(), version))?;
        Ok(decode(&document.body)?)
    }

    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<ViewHead>, ProfileError> {
        let mut heads = Vec::new();
        for (_, document) in self.docs.list(&keys::views(tenant)).await? {
            let head: ViewHead = decode(&document.body)?;
            if head.deleted_at.is_none() {
                heads.push(ViewHead {
                    definition: None,
                    ..head
                });
            }
        }
        Ok(heads)
    }

    /// Hides the view from listing and latest reads; its versions stay readable.
    pub async fn delete(&self, tenant: &TenantId, id: &str) -> Result<(), ProfileError> {
        let (mut head, revision) = self.live_head(tenant, id).await?;
        head.deleted_at = Some(Utc::now());
        self.put_head(tenant, &head, Expect::Revision(revision))
            .await?;
        Ok(())
    }
}
