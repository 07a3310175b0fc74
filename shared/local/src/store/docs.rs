//! Documents on redb: views, aliases, snapshots and every other JSON document, with a
//! revision for conditional writes.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};
use std::ops::Bound;

use cjaas_core::ports::{
    Document, DocumentStore, Expect, Limit, LimitedOutcome, LimitedWrite, StoreError,
};

use super::{EmbeddedStore, DOCS};

/// Whether a conditional write took place.
type Written = Result<bool, StoreError>;
/// Documents by sort key.
type Listed = Result<Vec<(String, Document)>, StoreError>;

#[async_trait]
impl DocumentStore for EmbeddedStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Document>, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.run(move |db| {
            let txn = db.begin_read()?;
            let docs = txn.open_table(DOCS)?;
            let found = docs.get((pk.as_str(), sk.as_str()))?.map(|v| {
                let (revision, body) = v.value();
                Document {
                    body: body.to_owned(),
                    revision,
                }
            });
            Ok(found)
        })
        .await
    }

    async fn put(&self, pk: &str, sk: &str, body: &str, expect: Expect) -> Written {
        let (pk, sk, body) = (pk.to_owned(), sk.to_owned(), body.to_owned());
        self.run(move |db| {
            let txn = db.begin_write()?;
            let written = {
                let mut docs = txn.open_table(DOCS)?;
                let current = docs.get((pk.as_str(), sk.as_str()))?.map(|v| v.value().0);
                let holds = match expect {
                    Expect::Anything => true,
                    Expect::Absent => current.is_none(),
                    Expect::Revision(r) => current == Some(r),
                };
                if holds {
                    let revision = current.unwrap_or(0) + 1;
                    docs.insert((pk.as_str(), sk.as_str()), (revision, body.as_str()))?;
                }
                holds
            };
            txn.commit()?;
            Ok(written)
        })
        .await
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.run(move |db| {
            let txn = db.begin_write()?;
            txn.open_table(DOCS)?.remove((pk.as_str(), sk.as_str()))?;
            Ok(txn.commit()?)
        })
        .await
    }

    /// One write transaction (and one fsync) for them all.
    async fn put_many(
        &self,
        pk: &str,
        puts: &[(String, String)],
        deletes: &[String],
    ) -> Result<(), StoreError> {
        let (pk, puts, deletes) = (pk.to_owned(), puts.to_vec(), deletes.to_vec());
        self.run(move |db| write_many(db, &pk, &puts, &deletes, redb::Durability::Immediate))
            .await
    }

    /// One write transaction without an fsync: redb commits in order, and a commit
    /// without durability becomes durable with the next durable one.
    async fn put_many_deferred(
        &self,
        pk: &str,
        puts: Vec<(String, String)>,
        deletes: Vec<String>,
    ) -> Result<(), StoreError> {
        let pk = pk.to_owned();
        self.run(move |db| write_many(db, &pk, &puts, &deletes, redb::Durability::None))
            .await
    }

    async fn list(&self, pk: &str) -> Result<Vec<(String, Document)>, StoreError> {
        self.list_page(pk, None, usize::MAX).await
    }

    /// One redb write transaction counts and writes (see [`crate::limits`]).
    async fn write_limited(
        &self,
        limit: &Limit,
        write: LimitedWrite<'_>,
    ) -> Result<LimitedOutcome, StoreError> {
        let (limit, write) = (limit.clone(), crate::limits::OwnedWrite::from(write));
        self.run(move |db| crate::limits::write_limited(db, &limit, &write))
            .await
    }

    async fn list_page(&self, pk: &str, after: Option<&str>, limit: usize) -> Listed {
        let (pk, after) = (pk.to_owned(), after.map(str::to_owned));
        self.run(move |db| {
            let txn = db.begin_read()?;
            let docs = txn.open_table(DOCS)?;
            let mut found = Vec::new();
            let low = match &after {
                Some(after) => Bound::Excluded((pk.as_str(), after.as_str())),
                None => Bound::Included((pk.as_str(), "")),
            };
            for row in docs
                .range::<(&str, &str)>((low, Bound::Unbounded))?
                .take(limit)
            {
                let (key, value) = row?;
                let ((row_pk, sk), (revision, body)) = (key.value(), value.value());
                if row_pk != pk {
                    break;
                }
                found.push((
                    sk.to_owned(),
                    Document {
                        body: body.to_owned(),
                        revision,
                    },
                ));
            }
            Ok(found)
        })
        .await
    }
}

/// Writes (revision + 1) and deletes documents of `pk` in one write transaction.
fn write_many(
    db: &redb::Database,
    pk: &str,
    puts: &[(String, String)],
    deletes: &[String],
    durability: redb::Durability,
) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(durability)?;
    {
        let mut docs = txn.open_table(DOCS)?;
        for (sk, body) in puts {
            // Written as revision 1 first: a new document needs no second B-tree walk.
            let key = (pk, sk.as_str());
            let before = docs.insert(key, (1, body.as_str()))?.map(|v| v.value().0);
            if let Some(revision) = before {
                docs.insert(key, (revision + 1, body.as_str()))?;
            }
        }
        for sk in deletes {
            docs.remove((pk, sk.as_str()))?;
        }
    }
    Ok(txn.commit()?)
}
