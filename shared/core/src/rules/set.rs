//! A tenant's active rules evaluated together: their filters are merged, so each
//! distinct filter is matched once per event (and once per history event within its
//! window), however many rules use it.

use chrono::Duration;

use super::eval::{CompiledRule, Cond, Facts, Verdict};
use super::filters::{Filters, Memo};

/// Rules compiled into one evaluation.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    filters: Filters,
    rules: Vec<(CompiledRule, Cond)>,
}

impl RuleSet {
    pub fn new<'r>(rules: impl IntoIterator<Item = &'r CompiledRule>) -> Self {
        let mut set = RuleSet::default();
        for rule in rules {
            let map = set.filters.merge(&rule.filters);
            let cond = rule.cond.remap(&map);
            set.rules.push((rule.clone(), cond));
        }
        set
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// How many distinct filters the rules use.
    pub fn distinct_filters(&self) -> usize {
        self.filters.len()
    }

    /// The longest history any rule reads.
    pub fn lookback(&self) -> Duration {
        self.rules
            .iter()
            .map(|(rule, _)| rule.lookback)
            .max()
            .unwrap_or_else(Duration::zero)
    }

    /// Each rule's verdict on the incoming event, in the order the rules were given;
    /// the same as each rule's [`CompiledRule::on_event`].
    pub fn on_event(&self, facts: &Facts<'_>) -> Vec<Verdict> {
        let mut memo = Memo::new(&self.filters, facts);
        self.rules
            .iter()
            .map(|(rule, cond)| rule.verdict(cond, &mut memo, facts))
            .collect()
    }
}
