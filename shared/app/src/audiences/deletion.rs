//! `DELETE /v1/audiences/{id}`: every current member exits (`cjaas.audience.exited`,
//! `reason: audience_deleted`) on the Tape and the bus, exactly once, then the
//! audience's rows, sizes, versions, status and time checks go.
//!
//! The head goes first (the audience stops being evaluated and reads 404), but its
//! last version stays under the deletions under way until every exit is appended and
//! every row removed. A crash in between is finished by a retried `DELETE` (204) or
//! by the `audience_backfills` schedule; each exit's id is the one its membership
//! row's sequence gives, so a retry appends nothing twice. The exits carry the source
//! `cjaas://audiences/{id}/deleted`: no rule fires for them.

use chrono::Utc;

use cjaas_core::audience::{keys, StoredAudience};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::StoreError;

use crate::documents::decode;

use super::membership::{Cause, Member, Membership, MembershipReport};
use super::{AudienceError, Audiences};

impl Membership {
    /// Deletes the audience (see the module docs); `NotFound` when there is none and
    /// no deletion of it is under way.
    pub async fn delete(
        &self,
        audiences: &Audiences,
        tenant: &TenantId,
        id: &str,
    ) -> Result<MembershipReport, AudienceError> {
        let audience = match audiences.remove_head(tenant, id).await {
            Ok(audience) => audience,
            Err(AudienceError::NotFound(_)) if cjaas_core::resource_id::valid(id) => {
                match self.docs.get(&keys::deletions(tenant), id).await? {
                    Some(document) => decode(&document.body)?,
                    None => return Err(AudienceError::NotFound(id.to_owned())),
                }
            }
            Err(e) => return Err(e),
        };
        Ok(self.finish_deletion(tenant, &audience).await?)
    }

    /// Finishes every deletion a crash left under way; returns the exits appended.
    pub async fn finish_deletions(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let mut exited = 0;
        for (_, document) in self.docs.list(&keys::deletions(tenant)).await? {
            let audience: StoredAudience = decode(&document.body)?;
            exited += self.finish_deletion(tenant, &audience).await?.exited;
        }
        Ok(exited)
    }

    /// Every member exits, then the audience's documents go, the deletion's own last.
    async fn finish_deletion(
        &self,
        tenant: &TenantId,
        audience: &StoredAudience,
    ) -> Result<MembershipReport, StoreError> {
        let (id, now) = (audience.id.as_str(), Utc::now());
        let mut report = MembershipReport::default();
        let members = keys::members(tenant, id);
        for (person, document) in self.docs.list(&members).await? {
            let (Ok(person), true) = (
                PersonId::parse(&person),
                decode::<Member>(&document.body)?.member,
            ) else {
                continue;
            };
            let cause = Cause::AudienceDeleted;
            self.apply(tenant, audience, &person, false, now, cause, &mut report)
                .await?;
        }
        for pk in [members, keys::sizes(tenant, id), keys::versions(tenant, id)] {
            for (sk, _) in self.docs.list(&pk).await? {
                self.docs.delete(&pk, &sk).await?;
            }
        }
        let timers = keys::timers(tenant);
        for (sk, _) in self.docs.list(&timers).await? {
            if keys::timer_parts(&sk).is_some_and(|(audience, _)| audience == id) {
                self.docs.delete(&timers, &sk).await?;
            }
        }
        self.docs.delete(&keys::statuses(tenant), id).await?;
        self.docs.delete(&keys::deletions(tenant), id).await?;
        tracing::info!(tenant = %tenant, audience = id, exited = report.exited, "audience deleted");
        Ok(report)
    }
}
