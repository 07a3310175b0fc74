//! Paging through a person's whole Tape: one loop for every reader that needs all of
//! a range, not one page.

use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{StoreError, TapeStore};
use cjaas_core::tape::{JourneyQuery, StoredEvent};

/// Reads `query` page after page until the range ends, handing each page's events to
/// `each` in Tape order. `query.limit` is the page size.
pub async fn for_each_page(
    tape: &dyn TapeStore,
    tenant: &TenantId,
    person: &PersonId,
    mut query: JourneyQuery,
    mut each: impl FnMut(Vec<StoredEvent>),
) -> Result<(), StoreError> {
    loop {
        let page = tape.query(tenant, person, &query).await?;
        each(page.events);
        match page.next {
            Some(cursor) => query.after = Some(cursor.after),
            None => return Ok(()),
        }
    }
}
