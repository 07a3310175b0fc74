//! Which events each aggregate used, for explained profile reads.

use serde::{Deserialize, Serialize};

use crate::view::{Aggregation, CompiledView};

/// Most contributing events listed per attribute when a profile is explained.
pub const MAX_EXPLAINED_EVENTS: usize = 100;

/// The source and id of an event, to explain what an attribute used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    pub source: String,
    pub id: String,
}

/// Which events each aggregate used, newest last, at most [`MAX_EXPLAINED_EVENTS`].
#[derive(Debug, Clone, Default)]
pub struct Explain {
    pub events: Vec<Vec<EventRef>>,
}

impl Explain {
    pub fn new(view: &CompiledView) -> Self {
        Self {
            events: vec![Vec::new(); view.aggregates.len()],
        }
    }

    /// Records that aggregate `i` used the event `(source, id)`.
    pub(super) fn record(&mut self, i: usize, aggregation: Aggregation, source: &str, id: &str) {
        let reference = EventRef {
            source: source.to_owned(),
            id: id.to_owned(),
        };
        let used = &mut self.events[i];
        match aggregation {
            // Events are folded in ascending time: the last one picked is the latest,
            // and the first one is kept for `first`.
            Aggregation::Latest | Aggregation::LastSeen => *used = vec![reference],
            Aggregation::First | Aggregation::FirstSeen if used.is_empty() => used.push(reference),
            Aggregation::First | Aggregation::FirstSeen => {}
            _ => {
                if used.len() == MAX_EXPLAINED_EVENTS {
                    used.remove(0);
                }
                used.push(reference);
            }
        }
    }
}
