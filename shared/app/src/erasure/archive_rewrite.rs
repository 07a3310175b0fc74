//! Erasure from the archive: each object that holds an erased id is rewritten
//! without it, or deleted when nothing else is left.

use futures::stream::{self, StreamExt, TryStreamExt};
use std::collections::BTreeSet;

use cjaas_core::archive::{self, tenant_prefix, PERSONS_PREFIX};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::StoreError;

use super::{Erasures, CONCURRENCY};

impl Erasures {
    /// Finds the objects that hold the ids through their person lists, and rewrites
    /// each without them (or deletes it when nothing else is left).
    pub(super) async fn erase_archive(
        &self,
        tenant: &TenantId,
        ids: &BTreeSet<PersonId>,
    ) -> Result<ArchiveErased, StoreError> {
        let names: BTreeSet<String> = ids.iter().map(|p| p.to_string()).collect();
        let lists = self
            .stores
            .archive
            .list(&tenant_prefix(PERSONS_PREFIX, tenant))
            .await?;
        let results: Vec<ArchiveErased> = stream::iter(lists)
            .map(|key| {
                let names = &names;
                async move { self.rewrite_object(&key, names).await }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(results
            .into_iter()
            .fold(ArchiveErased::default(), |a, b| ArchiveErased {
                rewritten: a.rewritten + b.rewritten,
                deleted: a.deleted + b.deleted,
                events: a.events + b.events,
            }))
    }

    async fn rewrite_object(
        &self,
        persons_key: &str,
        names: &BTreeSet<String>,
    ) -> Result<ArchiveErased, StoreError> {
        let archive = &self.stores.archive;
        let unreadable = |e: archive::DecodeError| StoreError::Transient(e.to_string());
        let Some(list) = archive.get(persons_key).await? else {
            return Ok(ArchiveErased::default());
        };
        let mut persons = archive::decode_persons(&list).map_err(unreadable)?;
        if persons.is_disjoint(names) {
            return Ok(ArchiveErased::default());
        }
        let data_key = archive::data_key_of_persons(persons_key)
            .ok_or_else(|| StoreError::Transient(format!("bad person list key {persons_key}")))?;
        let events = match archive.get(&data_key).await? {
            Some(bytes) => archive::decode(&bytes).map_err(unreadable)?,
            None => Vec::new(),
        };
        let before = events.len();
        let kept: Vec<_> = events
            .into_iter()
            .filter(|e| !names.contains(&e.person))
            .collect();
        let events = (before - kept.len()) as u64;
        persons.retain(|p| !names.contains(p));
        if kept.is_empty() {
            archive.delete(&data_key).await?;
            archive.delete(persons_key).await?;
            return Ok(ArchiveErased {
                deleted: 1,
                events,
                ..ArchiveErased::default()
            });
        }
        // Data first: until the list is rewritten, a rerun still finds this object.
        archive.put(&data_key, archive::encode(&kept)).await?;
        archive
            .put(
                persons_key,
                serde_json::to_vec(&persons).expect("lists serialize"),
            )
            .await?;
        Ok(ArchiveErased {
            rewritten: 1,
            events,
            ..ArchiveErased::default()
        })
    }
}

/// What an erasure did to the archive.
#[derive(Debug, Default)]
pub(super) struct ArchiveErased {
    pub rewritten: u64,
    pub deleted: u64,
    pub events: u64,
}
