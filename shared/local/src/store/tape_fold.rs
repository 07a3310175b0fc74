//! Folding a person's Tape inside one redb read transaction: the rows are read in
//! sort-key order and handed to the fold borrowed, a batch at a time, so no event's
//! text is copied out of the store and no page goes between threads.

use redb::{AccessGuard, Database, ReadableDatabase};

use cjaas_core::fold::{TapeFold, TapeRow};
use cjaas_core::tape::JourneyQuery;

use super::entry::{decode_read, EntryRead};
use super::{expired, TAPE};

/// Rows decoded and folded together (their guards held meanwhile).
const BATCH: usize = 256;

type Row<'t> = (
    AccessGuard<'t, (&'static str, &'static str)>,
    AccessGuard<'t, &'static str>,
);

/// Folds the entries of partition `pk` from `fold.since()` on, leaving out those
/// expired at `now` (Unix seconds), as a journey read does.
pub(super) fn fold_partition(
    db: &Database,
    pk: &str,
    now: i64,
    mut fold: TapeFold,
) -> Result<TapeFold, redb::Error> {
    let query = JourneyQuery {
        from: fold.since(),
        ..JourneyQuery::default()
    };
    let Some(range) = query.key_range() else {
        return Ok(fold);
    };
    let txn = db.begin_read()?;
    let table = txn.open_table(TAPE)?;
    let (low, high) = ((pk, range.lower.as_str()), (pk, range.upper.as_str()));
    let mut rows: Vec<Row<'_>> = Vec::with_capacity(BATCH);
    for row in table.range::<(&str, &str)>(low..high)? {
        rows.push(row?);
        if rows.len() == BATCH {
            fold_batch(&mut fold, &rows, now)?;
            rows.clear();
        }
    }
    fold_batch(&mut fold, &rows, now)?;
    Ok(fold)
}

fn fold_batch(fold: &mut TapeFold, rows: &[Row<'_>], now: i64) -> Result<(), redb::Error> {
    let decoded = rows
        .iter()
        .map(|(key, value)| Ok((key.value().1, decode_read(value.value())?)))
        .collect::<Result<Vec<(&str, EntryRead<'_>)>, redb::Error>>()?;
    let live = decoded
        .iter()
        .filter(|(_, entry)| !expired(entry.expires_at, now));
    fold.fold(live.map(|(sort_key, entry)| TapeRow {
        sort_key,
        ty: &entry.ty,
        expires_at: entry.expires_at,
        json: &entry.event,
    }));
    Ok(())
}
