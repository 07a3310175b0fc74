//! Dead letters as S3 objects: `dead-letter/{tenant or _unknown}/{origin}.json`, one
//! per record, with its full payload. The key is deterministic, so a retry overwrites.

use async_trait::async_trait;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{DeadLetter, DeadLetterSink, StoreError};

use crate::s3_archive::S3Objects;

pub const DEAD_LETTER_PREFIX: &str = "dead-letter/";

pub struct S3DeadLetters {
    objects: S3Objects,
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3DeadLetters {
    pub fn new(client: aws_sdk_s3::Client, bucket: String) -> Self {
        Self {
            objects: S3Objects::new(client.clone(), bucket.clone()),
            client,
            bucket,
        }
    }

    pub fn key_for(letter: &DeadLetter) -> String {
        Self::key_of(
            letter.tenant.as_deref().unwrap_or("_unknown"),
            &letter.origin,
        )
    }

    fn key_of(tenant: &str, origin: &str) -> String {
        let origin: String = origin
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{DEAD_LETTER_PREFIX}{tenant}/{origin}.json")
    }
}

impl S3DeadLetters {
    async fn read(&self, key: &str) -> Result<Option<DeadLetter>, StoreError> {
        let Some(bytes) = self.objects.get(key).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Transient(format!("unreadable dead letter {key}: {e}")))
    }
}

#[async_trait]
impl DeadLetterSink for S3DeadLetters {
    async fn put(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let body = serde_json::to_vec(letter).expect("a dead letter serializes");
        self.objects
            .put(&Self::key_for(letter), body, "application/json")
            .await
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<DeadLetter>, StoreError> {
        let mut letters = Vec::new();
        for key in self
            .objects
            .list(&format!("{DEAD_LETTER_PREFIX}{tenant}/"))
            .await?
        {
            if let Some(letter) = self.read(&key).await? {
                letters.push(letter);
            }
        }
        Ok(letters)
    }

    /// One `ListObjectsV2` page under the tenant's prefix, from the key after
    /// `after`'s, then each object.
    async fn page(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let prefix = format!("{DEAD_LETTER_PREFIX}{tenant}/");
        let output = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .set_start_after(after.map(|origin| Self::key_of(tenant.as_str(), origin)))
            .max_keys(limit.min(1000) as i32)
            .send()
            .await
            .map_err(crate::store_error)?;
        let mut letters = Vec::new();
        for object in output.contents() {
            let Some(key) = object.key() else { continue };
            if let Some(letter) = self.read(key).await? {
                letters.push(letter);
            }
        }
        Ok(letters)
    }

    async fn get(&self, tenant: &TenantId, origin: &str) -> Result<Option<DeadLetter>, StoreError> {
        let letter = self.read(&Self::key_of(tenant.as_str(), origin)).await?;
        // Keys are sanitized origins: check the letter is the one asked for.
        Ok(letter.filter(|l| l.origin == origin && l.tenant.as_deref() == Some(tenant.as_str())))
    }

    async fn remove(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        self.objects.delete(&Self::key_for(letter)).await
    }
}
