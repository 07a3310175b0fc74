//! Paging through one person's Tape for a fold, one page ahead: the next page is read
//! (on the store's own thread, or over the network) while the last one is folded, so a
//! cold read costs about the longer of the two rather than their sum.

use std::sync::Arc;
use tokio::task::JoinHandle;

use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{StoreError, TapeStore};
use cjaas_core::tape::{JourneyPage, JourneyQuery, StoredEvent};

type PageRead = JoinHandle<Result<JourneyPage, StoreError>>;

/// Reads `query` page after page until the range ends, handing each page's events to
/// `each` in Tape order. `query.limit` is the page size.
pub(super) async fn fold_pages_ahead(
    tape: &Arc<dyn TapeStore>,
    tenant: &TenantId,
    person: &PersonId,
    mut query: JourneyQuery,
    mut each: impl FnMut(Vec<StoredEvent>),
) -> Result<(), StoreError> {
    let mut reading = read(tape, tenant, person, &query);
    loop {
        let page = reading
            .await
            .map_err(|e| StoreError::Transient(e.to_string()))??;
        let next = match page.next {
            Some(cursor) => {
                query.after = Some(cursor.after);
                Some(read(tape, tenant, person, &query))
            }
            None => None,
        };
        each(page.events);
        match next {
            Some(read) => reading = read,
            None => return Ok(()),
        }
    }
}

fn read(
    tape: &Arc<dyn TapeStore>,
    tenant: &TenantId,
    person: &PersonId,
    query: &JourneyQuery,
) -> PageRead {
    let (tape, tenant, person, query) =
        (tape.clone(), tenant.clone(), person.clone(), query.clone());
    tokio::spawn(async move { tape.query(&tenant, &person, &query).await })
}
