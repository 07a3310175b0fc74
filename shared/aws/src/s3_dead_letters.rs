//! Dead letters as S3 objects: `dead-letter/{tenant or _unknown}/{origin}.json`, one
//! per record, with its full payload. The key is deterministic, so a retry overwrites.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;

use cjaas_core::ports::{DeadLetter, DeadLetterSink, StoreError};

use crate::store_error;

pub const DEAD_LETTER_PREFIX: &str = "dead-letter/";

pub struct S3DeadLetters {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3DeadLetters {
    pub fn new(client: aws_sdk_s3::Client, bucket: String) -> Self {
        Self { client, bucket }
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
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(Self::key_for(letter))
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
