//! A fold over one person's Tape as its store reads it: the store hands over its
//! entries, borrowed and in sort-key order, and the fold keeps what a snapshot needs
//! besides the state (the last sort key, the first expiry, how many were read).

use chrono::{DateTime, Utc};
use std::sync::Arc;

use super::{Explain, Part, ProfileState, SortKeyTimes, StoredFold};
use crate::tape::StoredEvent;
use crate::view::CompiledView;

/// One Tape entry as a store holds it, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct TapeRow<'a> {
    pub sort_key: &'a str,
    /// The event's type, stored apart from its text.
    pub ty: &'a str,
    pub expires_at: Option<i64>,
    /// The CloudEvent as JSON text.
    pub json: &'a str,
}

impl<'a> TapeRow<'a> {
    pub fn of(event: &'a StoredEvent) -> Self {
        Self {
            sort_key: &event.sort_key,
            ty: &event.ty,
            expires_at: event.expires_at,
            json: &event.event,
        }
    }
}

/// A fold of the aggregates of `part` over a person's entries from [`TapeFold::since`]
/// on, owned, so a store can run it on its own thread.
#[derive(Debug, Clone)]
pub struct TapeFold {
    pub view: Arc<CompiledView>,
    pub part: Part,
    pub state: ProfileState,
    pub explain: Option<Explain>,
    /// The greatest sort key read.
    pub max_key: Option<String>,
    /// The earliest retention expiry among the entries read (Unix seconds).
    pub expires_first: Option<i64>,
    pub events_read: u64,
    /// Entries whose text is not JSON, left out of the state.
    pub skipped: usize,
}

impl TapeFold {
    pub fn new(view: Arc<CompiledView>, part: Part, explain: bool) -> Self {
        Self {
            state: ProfileState::new(&view),
            explain: explain.then(|| Explain::new(&view)),
            view,
            part,
            max_key: None,
            expires_first: None,
            events_read: 0,
            skipped: 0,
        }
    }

    /// The earliest event time this fold uses (`None`: the whole Tape).
    pub fn since(&self) -> Option<DateTime<Utc>> {
        self.part.since(&self.view)
    }

    /// Folds `rows`, which come after those folded so far, in sort-key order. A row
    /// whose sort key holds no time is left out.
    pub fn fold<'a>(&mut self, rows: impl IntoIterator<Item = TapeRow<'a>>) {
        let mut last = None;
        let (mut read, mut expires) = (0, self.expires_first);
        let mut times = SortKeyTimes::default();
        let events = rows.into_iter().filter_map(|row| {
            read += 1;
            last = Some(row.sort_key);
            expires = match (expires, row.expires_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            Some(StoredFold {
                sort_key: row.sort_key,
                time: times.time_of(row.sort_key)?,
                json: row.json,
                ty: Some(row.ty),
            })
        });
        let (view, part) = (&*self.view, self.part);
        self.skipped += self
            .state
            .fold_stored(view, part, events, self.explain.as_mut());
        self.events_read += read;
        self.expires_first = expires;
        if let Some(last) = last {
            self.max_key = Some(last.to_owned());
        }
    }
}
