//! A journey across an alias group.
use std::sync::Arc;

use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::TapeStore;
use cjaas_core::tape::{JourneyPage, JourneyQuery, Order, StoredEvent};

use super::{Aliases, ProfileError};

/// A journey across an alias group: each member's Tape, merged by sort key.
pub struct Journeys {
    tape: Arc<dyn TapeStore>,
    aliases: Arc<Aliases>,
}

impl Journeys {
    pub fn new(tape: Arc<dyn TapeStore>, aliases: Arc<Aliases>) -> Self {
        Self { tape, aliases }
    }

    pub async fn page(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        query: &JourneyQuery,
    ) -> Result<JourneyPage, ProfileError> {
        let (_, group) = self.aliases.group(tenant, person).await?;
        if let [only] = group.as_slice() {
            return Ok(self.tape.query(tenant, only, query).await?);
        }
        let mut events: Vec<StoredEvent> = Vec::new();
        let mut more = false;
        for member in &group {
            let page = self.tape.query(tenant, member, query).await?;
            more |= page.next.is_some();
            events.extend(page.events);
        }
        events.sort_by(|a, b| match query.order {
            Order::Asc => a.sort_key.cmp(&b.sort_key),
            Order::Desc => b.sort_key.cmp(&a.sort_key),
        });
        more |= events.len() > query.limit;
        events.truncate(query.limit);
        let next = match events.last() {
            Some(last) if more => Some(cjaas_core::tape::Cursor {
                after: last.sort_key.clone(),
                order: query.order,
            }),
            _ => None,
        };
        Ok(JourneyPage { events, next })
    }
}
