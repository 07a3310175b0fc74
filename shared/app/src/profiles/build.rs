//! Profiles folded from the Tape on read, with snapshots so a repeated read only
//! folds what is new.
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

use crate::documents::{decode, encode};
use crate::tape_pages::for_each_page;
use cjaas_core::fold::{
    finish, time_of_sort_key, Part, Profile, ProfileState, StoredFold, TapeFold, TapeRow,
};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{DocumentStore, TapeStore};
use cjaas_core::profile::{keys, MemberMark, Snapshot, StoredView};
use cjaas_core::tape::{JourneyQuery, StoredEvent, MAX_PAGE};
use cjaas_core::view::CompiledView;

use super::{Aliases, ProfileError, Views};

/// How a profile read used its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotUse {
    /// No snapshot was used (inline views and explained reads fold everything).
    None,
    /// There was none yet, or it no longer fit: everything was folded and saved.
    Refolded,
    /// Only events newer than the snapshot were folded.
    Incremental,
}

/// Work a profile read did, for callers and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReadStats {
    pub events_read: u64,
    pub snapshot: SnapshotUse,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfileResult {
    pub person: PersonId,
    pub group: Vec<PersonId>,
    pub computed_at: DateTime<Utc>,
    #[serde(flatten)]
    pub profile: Profile,
    /// With `explain`: per aggregate, the events it used (at most 100, newest last).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<serde_json::Map<String, Value>>,
    pub stats: ReadStats,
}

pub struct Profiles {
    tape: Arc<dyn TapeStore>,
    docs: Arc<dyn DocumentStore>,
    aliases: Arc<Aliases>,
}

/// Which stored view a profile comes from, for its snapshot.
#[derive(Debug, Clone)]
pub struct ViewKey {
    pub id: String,
    pub version: u32,
}

impl Profiles {
    pub fn new(
        tape: Arc<dyn TapeStore>,
        docs: Arc<dyn DocumentStore>,
        aliases: Arc<Aliases>,
    ) -> Self {
        Self {
            tape,
            docs,
            aliases,
        }
    }

    /// The profile of `person` for a stored view (its latest version, or `version`):
    /// the view is looked up, compiled and built with its snapshot.
    pub async fn for_stored_view(
        &self,
        views: &Views,
        tenant: &TenantId,
        person: &PersonId,
        view: &str,
        version: Option<u32>,
        explain: bool,
    ) -> Result<(StoredView, ProfileResult), ProfileError> {
        let stored = views.get(tenant, view, version).await?;
        let compiled = stored
            .definition
            .compile()
            .map_err(ProfileError::InvalidView)?;
        let key = ViewKey {
            id: stored.id.clone(),
            version: stored.version,
        };
        let built = self
            .build(tenant, person, &compiled, Some(&key), explain)
            .await?;
        Ok((stored, built))
    }

    /// Builds the profile of `person` (and its aliases) for `view`, as of now.
    pub async fn build(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        view: &CompiledView,
        stored: Option<&ViewKey>,
        explain: bool,
    ) -> Result<ProfileResult, ProfileError> {
        let now = Utc::now();
        let (root, group) = self.aliases.group(tenant, person).await?;
        let mut events_read = 0;
        let shared = Arc::new(view.clone());
        let (unwindowed, snapshot, mut explained) = match stored {
            Some(key) if !explain => {
                let (state, snapshot) = self
                    .unwindowed_with_snapshot(tenant, &root, &group, &shared, key, &mut events_read)
                    .await?;
                (state, snapshot, None)
            }
            _ => {
                let fold = TapeFold::new(shared.clone(), Part::Unwindowed, explain);
                let fold = self.fold_group(tenant, &group, fold).await?;
                events_read += fold.events_read;
                (fold.state, SnapshotUse::None, fold.explain)
            }
        };
        let mut windowed = ProfileState::new(view);
        if view.has_windows() {
            let mut fold = TapeFold::new(shared, Part::Windowed { now }, false);
            fold.explain = explained.take();
            let fold = self.fold_group(tenant, &group, fold).await?;
            events_read += fold.events_read;
            (windowed, explained) = (fold.state, fold.explain);
        }
        let events = explained.map(|e| {
            view.aggregates
                .iter()
                .zip(e.events)
                .map(|(a, refs)| {
                    (
                        a.name.clone(),
                        serde_json::to_value(refs).expect("refs serialize"),
                    )
                })
                .collect()
        });
        Ok(ProfileResult {
            person: person.clone(),
            group,
            computed_at: now,
            profile: finish(view, &unwindowed, &windowed),
            events,
            stats: ReadStats {
                events_read,
                snapshot,
            },
        })
    }

    /// The unwindowed part from the snapshot plus what is new, or a full refold when
    /// late events (or a changed group) make the snapshot unusable. Either way the
    /// result equals a full fold in event-time order.
    async fn unwindowed_with_snapshot(
        &self,
        tenant: &TenantId,
        root: &PersonId,
        group: &[PersonId],
        view: &Arc<CompiledView>,
        key: &ViewKey,
        events_read: &mut u64,
    ) -> Result<(ProfileState, SnapshotUse), ProfileError> {
        let (pk, sk) = (
            keys::snapshots(tenant, root),
            keys::snapshot(&key.id, key.version),
        );
        let saved: Option<Snapshot> = match self.docs.get(&pk, &sk).await? {
            Some(document) => decode(&document.body).ok(),
            None => None,
        };
        let now = Utc::now().timestamp();
        let usable = |s: &Snapshot| s.covers(group) && s.expires_first.is_none_or(|t| t > now);
        if let Some(snapshot) = saved.filter(usable) {
            let before = snapshot.members.clone();
            if let Some(state) = self
                .fold_newer(tenant, group, view, snapshot, events_read)
                .await?
            {
                if state.members != before {
                    self.save(&pk, &sk, &state).await;
                }
                return Ok((state.state, SnapshotUse::Incremental));
            }
        }
        let snapshot = match group {
            [member] => self.refold_one(tenant, member, view, events_read).await?,
            _ => self.refold_group(tenant, group, view, events_read).await?,
        };
        self.save(&pk, &sk, &snapshot).await;
        Ok((snapshot.state, SnapshotUse::Refolded))
    }

    /// A snapshot of everything on one person's Tape, folded as the store reads it.
    async fn refold_one(
        &self,
        tenant: &TenantId,
        member: &PersonId,
        view: &Arc<CompiledView>,
        events_read: &mut u64,
    ) -> Result<Snapshot, ProfileError> {
        // The counter first: an append racing the read then shows as a late event next
        // time (a refold), never as one the snapshot missed.
        let count = self.tape.count(tenant, member).await?;
        let fold = TapeFold::new(view.clone(), Part::Unwindowed, false);
        let fold = self
            .fold_group(tenant, std::slice::from_ref(member), fold)
            .await?;
        *events_read += fold.events_read;
        Ok(Snapshot {
            members: vec![MemberMark {
                person: member.clone(),
                count,
                max_key: fold.max_key,
            }],
            state: fold.state,
            saved_at: Utc::now(),
            expires_first: fold.expires_first,
        })
    }

    /// A snapshot of everything on the Tapes of an alias group, merged in sort-key
    /// order before the fold.
    async fn refold_group(
        &self,
        tenant: &TenantId,
        group: &[PersonId],
        view: &CompiledView,
        events_read: &mut u64,
    ) -> Result<Snapshot, ProfileError> {
        let mut members = Vec::new();
        let mut all = Vec::new();
        for member in group {
            // The counter first: an append racing the read then shows as a late event
            // next time (a refold), never as one the snapshot missed. The counter also
            // counts expired entries that reads leave out.
            let count = self.tape.count(tenant, member).await?;
            let events = self
                .read(tenant, std::slice::from_ref(member), None, events_read)
                .await?;
            members.push(MemberMark {
                person: member.clone(),
                count,
                max_key: events.last().map(|e| e.sort_key.clone()),
            });
            all.extend(events);
        }
        all.sort_by(|a, b| a.sort_key.cmp(&b.sort_key));
        let mut state = ProfileState::new(view);
        fold_all(&mut state, view, Part::Unwindowed, &all);
        Ok(Snapshot {
            members,
            state,
            saved_at: Utc::now(),
            expires_first: first_expiry(&all, None),
        })
    }

    /// Runs `fold` over every event of `group` in sort-key order: one person's Tape
    /// as its store reads it, a group's events merged first.
    async fn fold_group(
        &self,
        tenant: &TenantId,
        group: &[PersonId],
        mut fold: TapeFold,
    ) -> Result<TapeFold, ProfileError> {
        fold = match group {
            [member] => self.tape.fold_tape(tenant, member, fold).await?,
            _ => {
                let mut read = 0;
                let events = self.read(tenant, group, fold.since(), &mut read).await?;
                fold.fold(events.iter().map(TapeRow::of));
                fold
            }
        };
        warn_skipped(fold.skipped);
        Ok(fold)
    }

    /// Folds the events added since `snapshot`, if they all come after it in event
    /// time; `None` if a late event slipped in before the snapshot's end.
    async fn fold_newer(
        &self,
        tenant: &TenantId,
        group: &[PersonId],
        view: &CompiledView,
        mut snapshot: Snapshot,
        events_read: &mut u64,
    ) -> Result<Option<Snapshot>, ProfileError> {
        let boundary = snapshot.max_key().map(str::to_owned);
        let mut newer = Vec::new();
        for member in group {
            let mark = snapshot
                .mark(member)
                .expect("the snapshot covers the group")
                .clone();
            let total = self.tape.count(tenant, member).await?;
            if total == mark.count {
                continue;
            }
            let events = self
                .read_after(tenant, member, mark.max_key.as_deref(), events_read)
                .await?;
            let late = mark.count + events.len() as u64 != total
                || events.first().is_some_and(|e| {
                    boundary
                        .as_deref()
                        .is_some_and(|b| e.sort_key.as_str() <= b)
                });
            if late {
                return Ok(None);
            }
            let mark = snapshot
                .members
                .iter_mut()
                .find(|m| &m.person == member)
                .expect("covered");
            mark.count = total;
            if let Some(last) = events.last() {
                mark.max_key = Some(last.sort_key.clone());
            }
            newer.extend(events);
        }
        newer.sort_by(|a, b| a.sort_key.cmp(&b.sort_key));
        fold_all(&mut snapshot.state, view, Part::Unwindowed, &newer);
        snapshot.saved_at = Utc::now();
        snapshot.expires_first = first_expiry(&newer, snapshot.expires_first);
        Ok(Some(snapshot))
    }

    /// Saves a snapshot without waiting for it to be durable: it can be recomputed, and
    /// losing it (to a crash) leaves the one before, still true of the events up to its
    /// marks, or none, so the next read folds more but never differently.
    async fn save(&self, pk: &str, sk: &str, snapshot: &Snapshot) {
        let puts = vec![(sk.to_owned(), encode(snapshot))];
        if let Err(error) = self.docs.put_many_deferred(pk, puts, Vec::new()).await {
            tracing::warn!(%error, "profile snapshot not saved; the next read refolds");
        }
    }

    /// Every event of `group` (from `since`, if given), merged in sort-key order.
    async fn read(
        &self,
        tenant: &TenantId,
        group: &[PersonId],
        since: Option<DateTime<Utc>>,
        events_read: &mut u64,
    ) -> Result<Vec<StoredEvent>, ProfileError> {
        let mut all = Vec::new();
        for member in group {
            let query = JourneyQuery {
                from: since,
                limit: MAX_PAGE,
                ..JourneyQuery::default()
            };
            all.extend(self.pages(tenant, member, query, events_read).await?);
        }
        all.sort_by(|a, b| a.sort_key.cmp(&b.sort_key));
        Ok(all)
    }

    async fn read_after(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        after: Option<&str>,
        events_read: &mut u64,
    ) -> Result<Vec<StoredEvent>, ProfileError> {
        let query = JourneyQuery {
            after: after.map(str::to_owned),
            limit: MAX_PAGE,
            ..JourneyQuery::default()
        };
        self.pages(tenant, person, query, events_read).await
    }

    async fn pages(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        query: JourneyQuery,
        events_read: &mut u64,
    ) -> Result<Vec<StoredEvent>, ProfileError> {
        let mut events = Vec::new();
        for_each_page(self.tape.as_ref(), tenant, person, query, |page| {
            *events_read += page.len() as u64;
            events.extend(page);
        })
        .await?;
        Ok(events)
    }
}

/// The earliest retention expiry among `events` and `so_far`.
fn first_expiry(events: &[StoredEvent], so_far: Option<i64>) -> Option<i64> {
    events
        .iter()
        .filter_map(|e| e.expires_at)
        .chain(so_far)
        .min()
}

fn fold_all(state: &mut ProfileState, view: &CompiledView, part: Part, events: &[StoredEvent]) {
    let stored = events.iter().filter_map(|stored| {
        Some(StoredFold {
            sort_key: &stored.sort_key,
            time: time_of_sort_key(&stored.sort_key)?,
            json: &stored.event,
            ty: Some(&stored.ty),
        })
    });
    warn_skipped(state.fold_stored(view, part, stored, None));
}

fn warn_skipped(skipped: usize) {
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "stored events that are not JSON were left out of a profile"
        );
    }
}
