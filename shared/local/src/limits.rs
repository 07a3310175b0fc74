//! Per-tenant limits on the embedded store: one redb write transaction counts the
//! documents and writes. redb runs one write transaction at a time, so concurrent
//! creates never pass the limit, no counter is kept, and documents written before
//! limits were atomic count as they are.

use redb::{Database, ReadableTable};

use cjaas_core::ports::{Limit, LimitedOutcome, LimitedWrite};

use crate::store::DOCS;

/// A [`LimitedWrite`] that can move into the store's blocking task.
pub(crate) enum OwnedWrite {
    Create { sk: String, body: String },
    Delete { sk: String },
}

impl From<LimitedWrite<'_>> for OwnedWrite {
    fn from(write: LimitedWrite<'_>) -> Self {
        match write {
            LimitedWrite::Create { sk, body } => Self::Create {
                sk: sk.to_owned(),
                body: body.to_owned(),
            },
            LimitedWrite::Delete { sk } => Self::Delete { sk: sk.to_owned() },
        }
    }
}

pub(crate) fn write_limited(
    db: &Database,
    limit: &Limit,
    write: &OwnedWrite,
) -> Result<LimitedOutcome, redb::Error> {
    let txn = db.begin_write()?;
    let outcome = {
        let mut docs = txn.open_table(DOCS)?;
        let pk = limit.pk.as_str();
        match write {
            OwnedWrite::Delete { sk } => match docs.remove((pk, sk.as_str()))? {
                Some(_) => LimitedOutcome::Done,
                None => LimitedOutcome::Unchanged,
            },
            OwnedWrite::Create { sk, body } => {
                if docs.get((pk, sk.as_str()))?.is_some() {
                    LimitedOutcome::Unchanged
                } else if count(&docs, limit)? >= limit.max {
                    LimitedOutcome::LimitReached
                } else {
                    docs.insert((pk, sk.as_str()), (1, body.as_str()))?;
                    LimitedOutcome::Done
                }
            }
        }
    };
    txn.commit()?;
    Ok(outcome)
}

/// The documents of `limit.pk` whose sort key starts with `limit.prefix`, counted up
/// to `limit.max`.
fn count(
    docs: &impl ReadableTable<(&'static str, &'static str), (u64, &'static str)>,
    limit: &Limit,
) -> Result<usize, redb::Error> {
    let mut count = 0;
    for row in docs.range::<(&str, &str)>((limit.pk.as_str(), limit.prefix)..)? {
        let (key, _) = row?;
        let (pk, sk) = key.value();
        if pk != limit.pk || !sk.starts_with(limit.prefix) || count >= limit.max {
            break;
        }
        count += 1;
    }
    Ok(count)
}
