//! Rewriting the database into a fresh file. redb reuses freed pages but does not
//! clear them, so bytes of deleted rows can stay in the file, as can older versions of
//! rewritten ones. After an erasure the store copies every live row into a new file and
//! swaps it in with one rename: the person's bytes are then in no file of the data
//! directory. The copy holds the store's write lock, so requests wait for it (about a
//! second per few hundred MB) and nothing is written to the old file meanwhile.

use redb::{
    Database, Key, MultimapTableHandle, ReadableDatabase, ReadableTable, TableDefinition,
    TableHandle, Value,
};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::PoisonError;

use cjaas_core::ports::StoreError;

use super::{
    open_file, transient, EmbeddedStore, CHANGES, COUNTS, DEAD_LETTERS, DEDUP, DOCS, FILE, KEYS,
    LIVE, META, STEPS, STREAM, TAPE, TENANTS,
};

/// Where the fresh file is built before it replaces the database.
const FRESH: &str = "cjaas.redb.rewrite";

/// A fresh file left by a crash mid-copy: the database itself is intact, so it goes.
pub(super) fn remove_leftover(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join(FRESH)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn copy<K: Key + 'static, V: Value + 'static>(
    from: &redb::ReadTransaction,
    to: &redb::WriteTransaction,
    table: TableDefinition<K, V>,
) -> Result<(), redb::Error> {
    let source = from.open_table(table)?;
    let mut target = to.open_table(table)?;
    for row in source.iter()? {
        let (key, value) = row?;
        target.insert(key.value(), value.value())?;
    }
    Ok(())
}

/// Every table of the store, copied into `to`.
fn copy_all(from: &Database, to: &Database) -> Result<(), redb::Error> {
    let read = from.begin_read()?;
    let write = to.begin_write()?;
    copy(&read, &write, TAPE)?;
    copy(&read, &write, STEPS)?;
    copy(&read, &write, DEDUP)?;
    copy(&read, &write, STREAM)?;
    copy(&read, &write, DEAD_LETTERS)?;
    copy(&read, &write, TENANTS)?;
    copy(&read, &write, KEYS)?;
    copy(&read, &write, META)?;
    copy(&read, &write, COUNTS)?;
    copy(&read, &write, CHANGES)?;
    copy(&read, &write, LIVE)?;
    copy(&read, &write, DOCS)?;
    write.commit()?;
    Ok(())
}

/// The tables [`copy_all`] copies: a table it does not know would be lost.
fn known() -> BTreeSet<&'static str> {
    [
        TAPE.name(),
        STEPS.name(),
        DEDUP.name(),
        STREAM.name(),
        DEAD_LETTERS.name(),
        TENANTS.name(),
        KEYS.name(),
        META.name(),
        COUNTS.name(),
        CHANGES.name(),
        LIVE.name(),
        DOCS.name(),
    ]
    .into()
}

/// The tables in `db` that [`copy_all`] would not copy.
fn unknown_tables(db: &Database) -> Result<Vec<String>, redb::Error> {
    let txn = db.begin_read()?;
    let known = known();
    let mut unknown: Vec<String> = txn
        .list_tables()?
        .map(|t| t.name().to_owned())
        .filter(|name| !known.contains(name.as_str()))
        .collect();
    unknown.extend(txn.list_multimap_tables()?.map(|t| t.name().to_owned()));
    Ok(unknown)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl EmbeddedStore {
    /// Copies every row into a fresh file and swaps it in atomically. `Ok(false)` if the
    /// database holds a table this code does not know (nothing is changed then).
    pub async fn rewrite(&self) -> Result<bool, StoreError> {
        let (db, dir, cache_bytes) = (self.db.clone(), self.dir.clone(), self.cache_bytes);
        tokio::task::spawn_blocking(move || -> Result<bool, StoreError> {
            let mut db = db.write().unwrap_or_else(PoisonError::into_inner);
            let unknown = unknown_tables(&db).map_err(transient)?;
            if !unknown.is_empty() {
                tracing::error!(
                    ?unknown,
                    "database not rewritten: it holds tables this build does not copy"
                );
                return Ok(false);
            }
            let fresh_path = dir.join(FRESH);
            remove_leftover(&dir).map_err(transient)?;
            let fresh = open_file(&fresh_path, cache_bytes).map_err(transient)?;
            copy_all(&db, &fresh).map_err(transient)?;
            // The rename is the commit point: before it the old file is the database,
            // after it the fresh one is, whole.
            std::fs::rename(&fresh_path, dir.join(FILE)).map_err(transient)?;
            sync_dir(&dir).map_err(transient)?;
            *db = fresh;
            tracing::info!("database rewritten into a fresh file");
            Ok(true)
        })
        .await
        .map_err(transient)?
    }
}
