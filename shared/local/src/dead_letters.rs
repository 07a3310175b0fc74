//! The embedded store's reads of one tenant's dead letters, page by page (the letters
//! table is keyed by origin; each letter names its tenant).

use redb::{Database, ReadableDatabase};
use std::ops::Bound;

use cjaas_core::ports::DeadLetter;

use crate::store::DEAD_LETTERS;

fn parse(raw: &str) -> Result<DeadLetter, redb::Error> {
    serde_json::from_str(raw).map_err(|e| redb::Error::Corrupted(e.to_string()))
}

fn of_tenant(letter: &DeadLetter, tenant: &str) -> bool {
    letter.tenant.as_deref() == Some(tenant)
}

/// Up to `limit` of `tenant`'s letters whose origin sorts after `after`.
pub(crate) fn page(
    db: &Database,
    tenant: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<DeadLetter>, redb::Error> {
    let txn = db.begin_read()?;
    let table = txn.open_table(DEAD_LETTERS)?;
    let low = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut found = Vec::new();
    for row in table.range::<&str>((low, Bound::Unbounded))? {
        let letter = parse(row?.1.value())?;
        if of_tenant(&letter, tenant) {
            found.push(letter);
            if found.len() == limit {
                break;
            }
        }
    }
    Ok(found)
}

/// `tenant`'s letter from `origin`; another tenant's is not found.
pub(crate) fn get(
    db: &Database,
    tenant: &str,
    origin: &str,
) -> Result<Option<DeadLetter>, redb::Error> {
    let txn = db.begin_read()?;
    let table = txn.open_table(DEAD_LETTERS)?;
    let Some(row) = table.get(origin)? else {
        return Ok(None);
    };
    let letter = parse(row.value())?;
    Ok(of_tenant(&letter, tenant).then_some(letter))
}
