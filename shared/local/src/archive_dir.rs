//! The archive on the embedded default: one file per object under a directory, so the
//! same layout that Athena reads in S3 is readable locally by DuckDB
//! (`read_json('.cjaas/archive/archive/tenant=dev/**/*.json.gz')`).

use async_trait::async_trait;
use std::path::{Path, PathBuf};

use cjaas_core::ports::{Archive, StoreError};

#[derive(Clone)]
pub struct DirArchive {
    root: PathBuf,
}

fn transient(e: impl std::fmt::Display) -> StoreError {
    StoreError::Transient(e.to_string())
}

impl DirArchive {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Keys are built by `cjaas_core::archive` from validated ids; refuse anything that
    /// could step outside the root anyway.
    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        if key.split('/').any(|part| part == ".." || part == ".") || key.starts_with('/') {
            return Err(StoreError::Rejected(format!("bad archive key {key:?}")));
        }
        Ok(self.root.join(key))
    }

    fn walk(dir: &Path, root: &Path, keys: &mut Vec<String>) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                Self::walk(&path, root, keys)?;
            } else if path.extension().is_none_or(|e| e != "tmp") {
                let key = path.strip_prefix(root).expect("under the root");
                keys.push(key.to_string_lossy().replace('\\', "/"));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Archive for DirArchive {
    /// Written to a temporary file and renamed, so a reader never sees half an object.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let path = self.path(key)?;
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(path.parent().expect("keys have folders"))?;
            let temporary = path.with_extension("tmp");
            std::fs::write(&temporary, bytes)?;
            std::fs::File::open(&temporary)?.sync_all()?;
            std::fs::rename(&temporary, &path)
        })
        .await
        .map_err(transient)?
        .map_err(transient)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match tokio::fs::read(self.path(key)?).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(transient(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let root = self.root.clone();
        let start = match prefix.rfind('/') {
            Some(i) => self.path(&prefix[..i])?,
            None => root.clone(),
        };
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut keys = Vec::new();
            Self::walk(&start, &root, &mut keys)?;
            keys.retain(|k| k.starts_with(&prefix));
            keys.sort();
            Ok::<_, std::io::Error>(keys)
        })
        .await
        .map_err(transient)?
        .map_err(transient)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(transient(e)),
        }
    }
}

/// Forwarding on the embedded default: destinations are S3 buckets and EventBridge
/// buses, which a cloud-free server does not write to. Deliveries fail visibly (each
/// destination's status says why) and stay recorded, to be retried; the AWS
/// deployment delivers them.
pub struct LocalForwarder;

#[async_trait]
impl cjaas_core::ports::Forwarder for LocalForwarder {
    async fn deliver(
        &self,
        _: &cjaas_core::forwarding::Target,
        _: &str,
        _: &[u8],
    ) -> Result<u64, StoreError> {
        Err(StoreError::Rejected(
            "the embedded default does not deliver to AWS destinations; the AWS deployment does"
                .into(),
        ))
    }
}
