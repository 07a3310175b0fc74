//! Dead letters as S3 objects: `dead-letter/{tenant or _unknown}/{origin}.json`, one
//! per record, with its full payload. The key is deterministic, so a retry overwrites.

use async_trait::async_trait;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{DeadLetter, DeadLetterSink, StoreError};

use crate::s3_archive::S3Objects;

pub const DEAD_LETTER_PREFIX: &str = "dead-letter/";

pub struct S3DeadLetters {
    objects: S3Objects,
}

impl S3DeadLetters {
    pub fn new(client: aws_sdk_s3::Client, bucket: String) -> Self {
        Self {
            objects: S3Objects::new(client, bucket),
        }
    }

    pub fn key_for(letter: &DeadLetter) -> String {
        let tenant = letter.tenant.as_deref().unwrap_or("_unknown");
        let origin: String = letter
            .origin
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
            if let Some(bytes) = self.objects.get(&key).await? {
                letters.push(serde_json::from_slice(&bytes).map_err(|e| {
                    StoreError::Transient(format!("unreadable dead letter {key}: {e}"))
                })?);
            }
        }
        Ok(letters)
    }

    async fn remove(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        self.objects.delete(&Self::key_for(letter)).await
    }
}
