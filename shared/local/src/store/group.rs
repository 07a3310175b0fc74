//! Group commit for the local stream: puts that arrive while a commit is in flight
//! share the next write transaction, so concurrent requests pay one fsync between
//! them instead of one each. Each put still returns only once its records are durable.

use redb::{Database, ReadableTable};
use std::sync::{Mutex, PoisonError};
use tokio::sync::oneshot;

use cjaas_core::ports::StoreError;

use super::log::{next_position, STREAM_NEXT};
use super::{transient, EmbeddedStore, META, STREAM};

type Done = oneshot::Sender<Result<(), StoreError>>;

/// The puts waiting for the next commit, and the turn to make it.
#[derive(Default)]
pub(super) struct StreamQueue {
    pending: Mutex<Vec<(Vec<Vec<u8>>, Done)>>,
    turn: tokio::sync::Mutex<()>,
}

/// Appends every waiting put's records, in arrival order, in one transaction.
fn append(db: &Database, puts: &[(Vec<Vec<u8>>, Done)]) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let mut table = txn.open_table(STREAM)?;
        let floor = table.last()?.map_or(0, |(seq, _)| seq.value() + 1);
        let first = next_position(&meta, STREAM_NEXT, floor)?;
        let records = puts.iter().flat_map(|(records, _)| records);
        let mut next = first;
        for bytes in records {
            table.insert(next, bytes.as_slice())?;
            next += 1;
        }
        meta.insert(STREAM_NEXT, next.to_string().as_str())?;
    }
    Ok(txn.commit()?)
}

impl EmbeddedStore {
    /// Puts `records` on the local stream, durably, sharing a commit with the puts
    /// that wait beside it.
    pub(super) async fn put_stream(&self, records: Vec<Vec<u8>>) -> Result<(), StoreError> {
        let (done, mut result) = oneshot::channel();
        let queue = &self.stream_queue;
        lock(&queue.pending).push((records, done));
        {
            let _turn = queue.turn.lock().await;
            if let Ok(outcome) = result.try_recv() {
                return outcome; // committed by the put before ours
            }
            let puts = std::mem::take(&mut *lock(&queue.pending));
            // Answered inside the blocking work, so the waiters get their answer even
            // if this put's caller goes away meanwhile.
            self.run(move |db| {
                let outcome = append(db, &puts).map_err(transient);
                for (_, done) in puts {
                    let _ = done.send(outcome.clone());
                }
                Ok(())
            })
            .await?;
        }
        self.stream_signal.notify_one();
        result
            .await
            .unwrap_or_else(|_| Err(transient("the stream commit was abandoned")))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cjaas_core::envelope::StreamRecord;
    use cjaas_core::ports::EventStream;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_puts_all_land_each_in_one_run_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let puts = (0..24).map(|p| {
            let store = store.clone();
            tokio::spawn(async move {
                let records: Vec<StreamRecord> = (0..5)
                    .map(|i| StreamRecord {
                        partition_key: "k".into(),
                        data: format!("{p}-{i}").into_bytes(),
                    })
                    .collect();
                store.put_records(&records).await.unwrap();
            })
        });
        for put in puts.collect::<Vec<_>>() {
            put.await.unwrap();
        }
        let stream = store.read_stream(1_000).await.unwrap();
        assert_eq!(stream.len(), 120, "every record is on the stream");
        let seqs: Vec<u64> = stream.iter().map(|(seq, _)| *seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "positions are unique");
        for run in stream.chunks(5) {
            let texts: Vec<String> = run
                .iter()
                .map(|(_, d)| String::from_utf8(d.clone()).unwrap())
                .collect();
            let put = texts[0].split('-').next().unwrap().to_owned();
            let want: Vec<String> = (0..5).map(|i| format!("{put}-{i}")).collect();
            assert_eq!(texts, want, "a put's records stay together, in order");
        }
    }
}
