//! The stream's consumers that take a Kinesis batch as it is: the Tape writer and
//! the archiver.

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use lambda_runtime::LambdaEvent;

use cjaas_app::archive::Archiver;
use cjaas_app::writer::{InputRecord, TapeWriter};

/// The Tape writer on a Kinesis batch: failed records go back by sequence number.
pub async fn handle_kinesis(
    writer: &TapeWriter,
    event: LambdaEvent<KinesisEvent>,
) -> Result<KinesisEventResponse, lambda_runtime::Error> {
    let records = input_records(&event.payload);
    let report = writer.write_batch(&records).await;
    let mut response = KinesisEventResponse::default();
    response.batch_item_failures = report
        .retry_indices()
        .map(|i| {
            let mut failure = KinesisBatchItemFailure::default();
            failure.item_identifier =
                Some(event.payload.records[i].kinesis.sequence_number.clone());
            failure
        })
        .collect();
    Ok(response)
}

/// The `archiver` function on a Kinesis batch. The batch is archived whole or not at
/// all: on failure it is handed back from its first record. Objects are named after
/// the batch's shard and first sequence number, which no other batch has, so the
/// retry (which starts at the same record) rewrites the same objects.
pub async fn handle_archive(
    archiver: &Archiver,
    event: LambdaEvent<KinesisEvent>,
) -> Result<KinesisEventResponse, lambda_runtime::Error> {
    let records = input_records(&event.payload);
    let mut response = KinesisEventResponse::default();
    let Some(first) = event.payload.records.first() else {
        return Ok(response);
    };
    // `eventID` is `{shard}:{sequence}`; sequence numbers are never reused on a shard.
    let shard = first
        .event_id
        .as_deref()
        .and_then(|id| id.split(':').next())
        .unwrap_or("shard");
    let batch = cjaas_core::archive::batch_of(shard, &first.kinesis.sequence_number);
    if let Err(e) = archiver.archive_batch(&batch, &records).await {
        tracing::warn!(batch, error = %e, "archive batch failed; it will be retried");
        response = retry_from(&event.payload, Some(0));
    }
    Ok(response)
}

pub(crate) fn input_records(event: &KinesisEvent) -> Vec<InputRecord> {
    event
        .records
        .iter()
        .map(|r| InputRecord {
            origin: r
                .event_id
                .clone()
                .unwrap_or_else(|| r.kinesis.sequence_number.clone()),
            data: r.kinesis.data.0.clone(),
            arrived_at: r.kinesis.approximate_arrival_timestamp.0,
        })
        .collect()
}

/// The batch's answer: all done (`None`), or handed back from record `from`.
pub(crate) fn retry_from(batch: &KinesisEvent, from: Option<usize>) -> KinesisEventResponse {
    let mut response = KinesisEventResponse::default();
    if let Some(record) = from.and_then(|i| batch.records.get(i)) {
        let mut failure = KinesisBatchItemFailure::default();
        failure.item_identifier = Some(record.kinesis.sequence_number.clone());
        response.batch_item_failures = vec![failure];
    }
    response
}
