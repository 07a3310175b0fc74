//! The live feed on the embedded default: the poller records each newly appended
//! event in a bounded log (for `Last-Event-ID` resumption) and wakes the followers.

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{Following, LiveEvent, LiveFeed, StoreError};
use cjaas_core::tape::TapeEntry;

use crate::store::LiveRow;
use crate::EmbeddedStore;

/// How many recent events the log keeps for resumption.
pub const KEEP: u64 = 100_000;
const PAGE: usize = 500;

#[derive(Clone)]
pub struct LocalLive {
    store: EmbeddedStore,
    wake: broadcast::Sender<()>,
    closed: Arc<watch::Sender<bool>>,
}

impl LocalLive {
    pub fn new(store: EmbeddedStore) -> Self {
        Self {
            store,
            wake: broadcast::channel(16).0,
            closed: Arc::new(watch::channel(false).0),
        }
    }

    /// Ends every follower's stream, so a shutting-down server is not held open by
    /// its SSE clients (they reconnect with `Last-Event-ID`).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// The live rows of newly appended events: the poller writes them
    /// (`EmbeddedStore::live_append`), then calls [`LocalLive::wake`].
    pub fn rows(entries: &[&TapeEntry]) -> Vec<LiveRow> {
        entries
            .iter()
            .map(|e| {
                (
                    e.tenant.to_string(),
                    e.person.to_string(),
                    e.ty.clone(),
                    e.source.clone(),
                    e.event.clone(),
                )
            })
            .collect()
    }

    /// Wakes the followers after new rows were committed.
    pub fn wake(&self) {
        let _ = self.wake.send(());
    }
}

struct Follow {
    store: EmbeddedStore,
    tenant: TenantId,
    cursor: u64,
    ready: VecDeque<LiveEvent>,
    wake: broadcast::Receiver<()>,
    closed: watch::Receiver<bool>,
}

impl Follow {
    async fn next(mut self) -> Option<(Result<LiveEvent, StoreError>, Self)> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some((Ok(event), self));
            }
            let rows = match self.store.live_after(&self.tenant, self.cursor, PAGE).await {
                Ok(rows) => rows,
                Err(e) => return Some((Err(e), self)),
            };
            if rows.is_empty() {
                if *self.closed.borrow() {
                    return None;
                }
                tokio::select! {
                    woken = self.wake.recv() => match woken {
                        Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    _ = self.closed.changed() => return None,
                }
            }
            for (seq, person, ty, source, event) in rows {
                self.cursor = seq;
                let Ok(person) = PersonId::parse(&person) else {
                    continue;
                };
                self.ready.push_back(LiveEvent {
                    id: seq.to_string(),
                    person,
                    ty,
                    source,
                    event,
                });
            }
        }
    }
}

#[async_trait]
impl LiveFeed for LocalLive {
    /// Without a position, follows from now. A position this feed never gave out (not
    /// a number, or beyond the newest) also follows from now, and says so: waiting for
    /// the feed to reach it would hide every new event until then.
    async fn follow(
        &self,
        tenant: &TenantId,
        after: Option<String>,
    ) -> Result<Following, StoreError> {
        let wake = self.wake.subscribe();
        let newest = self.store.live_last().await?;
        let (cursor, notice) = match after.map(|id| id.parse::<u64>()) {
            None => (newest, None),
            Some(Ok(seq)) if seq <= newest => (seq, None),
            Some(Ok(seq)) => (
                newest,
                Some(format!(
                    "Last-Event-ID {seq} is beyond the newest position {newest}: following from now"
                )),
            ),
            Some(Err(_)) => (
                newest,
                Some("Last-Event-ID is not a position of this stream: following from now".into()),
            ),
        };
        if let Some(notice) = &notice {
            tracing::info!(tenant = %tenant, notice, "live follower starts now");
        }
        let follow = Follow {
            store: self.store.clone(),
            tenant: tenant.clone(),
            cursor,
            ready: VecDeque::new(),
            wake,
            closed: self.closed.subscribe(),
        };
        Ok(Following {
            events: stream::unfold(follow, Follow::next).boxed(),
            notice,
        })
    }
}
