//! Erasure (GDPR): a person's membership rows and pending time checks, in every
//! audience of the tenant. Their change events are on their Tape, which erasure
//! removes with the rest of it; sizes hold no person id.

use std::collections::BTreeSet;

use cjaas_core::audience::keys;
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{DocumentStore, StoreError};

use super::definitions::list;

/// Removes the rows and checks of `ids`; returns how many.
pub async fn erase_memberships(
    docs: &dyn DocumentStore,
    tenant: &TenantId,
    ids: &BTreeSet<PersonId>,
) -> Result<u64, StoreError> {
    let mut removed = 0;
    for audience in list(docs, tenant).await? {
        let pk = keys::members(tenant, &audience.id);
        for id in ids {
            if docs.get(&pk, id.as_str()).await?.is_some() {
                docs.delete(&pk, id.as_str()).await?;
                removed += 1;
            }
        }
    }
    let timers = keys::timers(tenant);
    for (sk, _) in docs.list(&timers).await? {
        let named = keys::timer_parts(&sk)
            .and_then(|(_, person)| PersonId::parse(person).ok())
            .is_some_and(|person| ids.contains(&person));
        if named {
            docs.delete(&timers, &sk).await?;
            removed += 1;
        }
    }
    Ok(removed)
}
