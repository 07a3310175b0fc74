//! The event stream on Kinesis Data Streams.

use async_trait::async_trait;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use cjaas_core::envelope::StreamRecord;
use cjaas_core::ports::{EventStream, StoreError};

use crate::store_error;

pub struct KinesisEventStream {
    client: aws_sdk_kinesis::Client,
    stream_name: String,
}

impl KinesisEventStream {
    pub fn new(client: aws_sdk_kinesis::Client, stream_name: String) -> Self {
        Self {
            client,
            stream_name,
        }
    }
}

#[async_trait]
impl EventStream for KinesisEventStream {
    async fn put_records(&self, records: &[StreamRecord]) -> Result<Vec<usize>, StoreError> {
        let entries = records
            .iter()
            .map(|r| {
                PutRecordsRequestEntry::builder()
                    .partition_key(&r.partition_key)
                    .data(Blob::new(r.data.clone()))
                    .build()
                    .map_err(|e| StoreError::Rejected(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = self
            .client
            .put_records()
            .stream_name(&self.stream_name)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(store_error)?;
        if output.failed_record_count().unwrap_or(0) == 0 {
            return Ok(Vec::new());
        }
        Ok(output
            .records()
            .iter()
            .enumerate()
            .filter(|(_, r)| r.error_code().is_some())
            .map(|(i, _)| i)
            .collect())
    }
}
