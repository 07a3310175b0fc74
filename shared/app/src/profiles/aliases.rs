//! Soft identity aliases: links between person ids, read as groups.
use chrono::Utc;
use serde::Serialize;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use crate::documents::{decode, encode};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{BusEvent, DocumentStore, EventBus, Expect, StoreError};
use cjaas_core::profile::{keys, AliasTarget, MAX_CHAIN, MAX_GROUP};

use super::ProfileError;

/// Soft identity merges. A link says "alias X is person P"; links are transitive, and
/// the Tape is never rewritten: reads span every id of the group instead.
pub struct Aliases {
    docs: Arc<dyn DocumentStore>,
    /// Where a changed group is announced (`AliasesChanged`), for audiences.
    bus: Option<Arc<dyn EventBus>>,
}

/// A person's aliases, as the API shows them.
#[derive(Debug, Clone, Serialize)]
pub struct AliasView {
    pub person: PersonId,
    /// The id the group hangs from: following links from `person` ends here.
    pub root: PersonId,
    /// Ids linked directly to `person`.
    pub aliases: Vec<PersonId>,
    /// Every id whose events this person's journey and profiles span.
    pub group: Vec<PersonId>,
}

impl Aliases {
    pub fn new(docs: Arc<dyn DocumentStore>) -> Self {
        Self { docs, bus: None }
    }

    /// Announces each link and unlink on `bus`, so audiences evaluate the groups.
    pub fn with_bus(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Best effort: the link stands either way, and the persons' next event or time
    /// check evaluates their groups anyway.
    async fn announce(&self, tenant: &TenantId, persons: Vec<PersonId>) {
        let Some(bus) = &self.bus else { return };
        let message = crate::jobs::BusMessage::AliasesChanged {
            tenant: tenant.clone(),
            persons,
        };
        if let Err(e) = bus.publish(&[BusEvent::from(&message)]).await {
            tracing::warn!(tenant = %tenant, error = %e, "alias change not announced");
        }
    }

    async fn target(
        &self,
        tenant: &TenantId,
        alias: &PersonId,
    ) -> Result<Option<(AliasTarget, u64)>, StoreError> {
        match self
            .docs
            .get(&keys::alias(tenant, alias), keys::ALIAS_TARGET)
            .await?
        {
            Some(document) => Ok(Some((decode(&document.body)?, document.revision))),
            None => Ok(None),
        }
    }

    /// Follows links from `person` to the root of its group.
    pub async fn root(
        &self,
        tenant: &TenantId,
        person: &PersonId,
    ) -> Result<PersonId, ProfileError> {
        let mut current = person.clone();
        for _ in 0..MAX_CHAIN {
            match self.target(tenant, &current).await? {
                Some((target, _)) => current = target.person,
                None => return Ok(current),
            }
        }
        Err(ProfileError::GroupTooLarge)
    }

    /// Ids linked directly to `person` (checked against their targets, so a link
    /// that was moved or removed midway never counts).
    async fn direct(
        &self,
        tenant: &TenantId,
        person: &PersonId,
    ) -> Result<Vec<PersonId>, ProfileError> {
        let mut linked = Vec::new();
        for (alias, _) in self.docs.list(&keys::links(tenant, person)).await? {
            let Ok(alias) = PersonId::parse(&alias) else {
                continue;
            };
            if let Some((target, _)) = self.target(tenant, &alias).await? {
                if &target.person == person {
                    linked.push(alias);
                }
            }
        }
        Ok(linked)
    }

    /// The whole group of `person`: its root and everything linked to it, transitively.
    pub async fn group(
        &self,
        tenant: &TenantId,
        person: &PersonId,
    ) -> Result<(PersonId, Vec<PersonId>), ProfileError> {
        let root = self.root(tenant, person).await?;
        let members = self.hanging_from(tenant, &root).await?;
        Ok((root, members.into_iter().collect()))
    }

    /// `top` and every id linked to it, transitively (at most [`MAX_GROUP`]).
    async fn hanging_from(
        &self,
        tenant: &TenantId,
        top: &PersonId,
    ) -> Result<BTreeSet<PersonId>, ProfileError> {
        let mut seen = BTreeSet::from([top.clone()]);
        let mut queue = VecDeque::from([top.clone()]);
        while let Some(next) = queue.pop_front() {
            for linked in self.direct(tenant, &next).await? {
                if seen.insert(linked.clone()) {
                    if seen.len() > MAX_GROUP {
                        return Err(ProfileError::GroupTooLarge);
                    }
                    queue.push_back(linked);
                }
            }
        }
        Ok(seen)
    }

    pub async fn view(
        &self,
        tenant: &TenantId,
        person: &PersonId,
    ) -> Result<AliasView, ProfileError> {
        let (root, group) = self.group(tenant, person).await?;
        Ok(AliasView {
            aliases: self.direct(tenant, person).await?,
            person: person.clone(),
            root,
            group,
        })
    }

    /// Links `aliases` to `person`. Every alias is checked before any is written.
    pub async fn link(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        aliases: &[PersonId],
        allow_move: bool,
    ) -> Result<AliasView, ProfileError> {
        let aliases: BTreeSet<&PersonId> = aliases.iter().collect();
        let (_, group) = self.group(tenant, person).await?;
        let mut size = group.len();
        let mut writes = Vec::new();
        for alias in aliases {
            if alias == person {
                return Err(ProfileError::SelfLink);
            }
            if !group.contains(alias) {
                size += self.hanging_from(tenant, alias).await?.len();
            }
            if size > MAX_GROUP {
                return Err(ProfileError::GroupTooLarge);
            }
            // Linking an id that `person` already hangs from would close a loop.
            if self.chain_reaches(tenant, person, alias).await? {
                return Err(ProfileError::AliasCycle(alias.clone()));
            }
            match self.target(tenant, alias).await? {
                Some((target, _)) if &target.person == person => {}
                Some((target, revision)) if allow_move => {
                    writes.push((alias, Expect::Revision(revision), Some(target.person)))
                }
                Some((target, _)) => {
                    return Err(ProfileError::AliasTaken {
                        alias: alias.clone(),
                        owner: target.person,
                    })
                }
                None => writes.push((alias, Expect::Absent, None)),
            }
        }
        let now = Utc::now();
        let mut changed = vec![person.clone()];
        for (alias, expect, previous) in writes {
            changed.push(alias.clone());
            changed.extend(previous.clone());
            // The link list entry first: readers check it against the target, so a
            // crash between the two writes leaves no dangling member.
            self.docs
                .put(
                    &keys::links(tenant, person),
                    alias.as_str(),
                    "{}",
                    Expect::Anything,
                )
                .await?;
            let target = AliasTarget {
                person: person.clone(),
                linked_at: now,
            };
            if !self
                .docs
                .put(
                    &keys::alias(tenant, alias),
                    keys::ALIAS_TARGET,
                    &encode(&target),
                    expect,
                )
                .await?
            {
                return Err(ProfileError::Conflict);
            }
            if let Some(previous) = previous {
                self.docs
                    .delete(&keys::links(tenant, &previous), alias.as_str())
                    .await?;
            }
        }
        if changed.len() > 1 {
            self.announce(tenant, changed).await;
        }
        self.view(tenant, person).await
    }

    async fn chain_reaches(
        &self,
        tenant: &TenantId,
        from: &PersonId,
        to: &PersonId,
    ) -> Result<bool, ProfileError> {
        let mut current = from.clone();
        for _ in 0..MAX_CHAIN {
            match self.target(tenant, &current).await? {
                Some((target, _)) if &target.person == to => return Ok(true),
                Some((target, _)) => current = target.person,
                None => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Unlinks `alias` from `person`; takes effect on the next read.
    pub async fn unlink(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        alias: &PersonId,
    ) -> Result<(), ProfileError> {
        match self.target(tenant, alias).await? {
            Some((target, _)) if &target.person == person => {
                self.docs
                    .delete(&keys::alias(tenant, alias), keys::ALIAS_TARGET)
                    .await?;
                self.docs
                    .delete(&keys::links(tenant, person), alias.as_str())
                    .await?;
                self.announce(tenant, vec![person.clone(), alias.clone()])
                    .await;
                Ok(())
            }
            _ => Err(ProfileError::AliasNotFound(alias.clone())),
        }
    }
}
