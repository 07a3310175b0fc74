//! Progressive profiles: versioned views, soft identity aliases, and profiles folded
//! from the Tape on read, with snapshots so a repeated read only folds what is new.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use crate::documents::{decode, encode};
use cjaas_core::fold::{finish, time_of_sort_key, Explain, FoldEvent, Part, Profile, ProfileState};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{DocumentStore, Expect, StoreError, TapeStore};
use cjaas_core::profile::{
    keys, new_view_id, valid_view_id, AliasTarget, MemberMark, Snapshot, StoredView, ViewHead,
    MAX_CHAIN, MAX_GROUP,
};
use cjaas_core::tape::{JourneyPage, JourneyQuery, Order, StoredEvent, MAX_PAGE};
use cjaas_core::view::{CompiledView, ViewDefinition, ViewProblem};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("the view is invalid")]
    InvalidView(Vec<ViewProblem>),
    #[error("no view {0}")]
    ViewNotFound(String),
    #[error("no version {1} of view {0}")]
    VersionNotFound(String, u32),
    #[error("a concurrent change won; read the current state and try again")]
    Conflict,
    #[error("{alias} is already linked to {owner}; send \"move\": true to move it")]
    AliasTaken { alias: PersonId, owner: PersonId },
    #[error("linking {0} here would make a cycle of aliases")]
    AliasCycle(PersonId),
    #[error("a person cannot be its own alias")]
    SelfLink,
    #[error("{0} is not an alias of this person")]
    AliasNotFound(PersonId),
    #[error("an alias group holds at most {MAX_GROUP} ids")]
    GroupTooLarge,
    #[error("{0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ProfileError {
    pub fn code(&self) -> &'static str {
        match self {
            ProfileError::InvalidView(_) => "invalid_view",
            ProfileError::ViewNotFound(_) => "view_not_found",
            ProfileError::VersionNotFound(..) => "version_not_found",
            ProfileError::Conflict => "conflict",
            ProfileError::AliasTaken { .. } => "alias_taken",
            ProfileError::AliasCycle(_) => "alias_cycle",
            ProfileError::SelfLink => "self_link",
            ProfileError::AliasNotFound(_) => "alias_not_found",
            ProfileError::GroupTooLarge => "group_too_large",
            ProfileError::InvalidRequest(_) => "invalid_request",
            ProfileError::Store(_) => "store_unavailable",
        }
    }
}

// ---------------------------------------------------------------- views

pub struct Views {
    docs: Arc<dyn DocumentStore>,
}

impl Views {
    pub fn new(docs: Arc<dyn DocumentStore>) -> Self {
        Self { docs }
    }

    /// Stores a new view as version 1.
    pub async fn create(
        &self,
        tenant: &TenantId,
        definition: ViewDefinition,
    ) -> Result<StoredView, ProfileError> {
        definition.compile().map_err(ProfileError::InvalidView)?;
        let now = Utc::now();
        let head = ViewHead {
            id: new_view_id(),
            name: definition.name.clone(),
            latest: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            definition: Some(definition),
        };
        self.put_head(tenant, &head, Expect::Absent).await?;
        self.archive(tenant, &head).await
    }

    /// Makes a new version with one conditional write of the head; a concurrent update
    /// loses with a conflict and leaves nothing behind. Earlier versions stay readable.
    pub async fn update(
        &self,
        tenant: &TenantId,
        id: &str,
        definition: ViewDefinition,
    ) -> Result<StoredView, ProfileError> {
        definition.compile().map_err(ProfileError::InvalidView)?;
        let (mut head, revision) = self.live_head(tenant, id).await?;
        // The current version's archive copy may be missing if its writer crashed.
        self.archive(tenant, &head).await?;
        head.latest += 1;
        head.name = definition.name.clone();
        head.updated_at = Utc::now();
        head.definition = Some(definition);
        self.put_head(tenant, &head, Expect::Revision(revision))
            .await?;
        self.archive(tenant, &head).await
    }

    /// Writes the head if `expect` holds; a concurrent writer that won is a conflict.
    async fn put_head(
        &self,
        tenant: &TenantId,
        head: &ViewHead,
        expect: Expect,
    ) -> Result<(), ProfileError> {
        let written = self
            .docs
            .put(&keys::views(tenant), &head.id, &encode(head), expect)
            .await?;
        if written {
            Ok(())
        } else {
            Err(ProfileError::Conflict)
        }
    }

    /// Copies the head's version into the archive (idempotent).
    async fn archive(
        &self,
        tenant: &TenantId,
        head: &ViewHead,
    ) -> Result<StoredView, ProfileError> {
        let view = head
            .latest_view()
            .ok_or_else(|| ProfileError::ViewNotFound(head.id.clone()))?;
        let (pk, sk) = (
            keys::view_versions(tenant, &view.id),
            keys::version(view.version),
        );
        self.docs
            .put(&pk, &sk, &encode(&view), Expect::Anything)
            .await?;
        Ok(view)
    }

    async fn head(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<(ViewHead, u64)>, ProfileError> {
        if !valid_view_id(id) {
            return Ok(None);
        }
        match self.docs.get(&keys::views(tenant), id).await? {
            Some(document) => Ok(Some((decode(&document.body)?, document.revision))),
            None => Ok(None),
        }
    }

    async fn live_head(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<(ViewHead, u64), ProfileError> {
        match self.head(tenant, id).await? {
            Some((head, revision)) if head.deleted_at.is_none() => Ok((head, revision)),
            _ => Err(ProfileError::ViewNotFound(id.to_owned())),
        }
    }

    /// The latest version, or a given one (readable even after the view is deleted).
    pub async fn get(
        &self,
        tenant: &TenantId,
        id: &str,
        version: Option<u32>,
    ) -> Result<StoredView, ProfileError> {
        let Some(version) = version else {
            let (head, _) = self.live_head(tenant, id).await?;
            return head
                .latest_view()
                .ok_or_else(|| ProfileError::ViewNotFound(id.to_owned()));
        };
        let Some((head, _)) = self.head(tenant, id).await? else {
            return Err(ProfileError::ViewNotFound(id.to_owned()));
        };
        if version == head.latest {
            return head
                .latest_view()
                .ok_or_else(|| ProfileError::ViewNotFound(id.to_owned()));
        }
        let document = self
            .docs
            .get(&keys::view_versions(tenant, id), &keys::version(version))
            .await?
            .ok_or_else(|| ProfileError::VersionNotFound(id.to_owned(), version))?;
        Ok(decode(&document.body)?)
    }

    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<ViewHead>, ProfileError> {
        let mut heads = Vec::new();
        for (_, document) in self.docs.list(&keys::views(tenant)).await? {
            let head: ViewHead = decode(&document.body)?;
            if head.deleted_at.is_none() {
                heads.push(ViewHead {
                    definition: None,
                    ..head
                });
            }
        }
        Ok(heads)
    }

    /// Hides the view from listing and latest reads; its versions stay readable.
    pub async fn delete(&self, tenant: &TenantId, id: &str) -> Result<(), ProfileError> {
        let (mut head, revision) = self.live_head(tenant, id).await?;
        head.deleted_at = Some(Utc::now());
        self.put_head(tenant, &head, Expect::Revision(revision))
            .await?;
        Ok(())
    }
}

// -------------------------------------------------------------- aliases

/// Soft identity merges. A link says "alias X is person P"; links are transitive, and
/// the Tape is never rewritten: reads span every id of the group instead.
pub struct Aliases {
    docs: Arc<dyn DocumentStore>,
}

/// A person's aliases, as the API shows them.
#[derive(Debug, Clone, Serialize)]
pub struct AliasView {
    pub person: PersonId,
    /// The id the group hangs from: following links from `person` ends here.
    pub root: PersonId,
    /// Ids linked directly to `person`.
    pub aliases: Vec<PersonId>,
    /// Every id whose events this person's journey and profiles span.
    pub group: Vec<PersonId>,
}

impl Aliases {
    pub fn new(docs: Arc<dyn DocumentStore>) -> Self {
        Self { docs }
    }

    async fn target(
        &self,
        tenant: &TenantId,
        alias: &PersonId,
    ) -> Result<Option<(AliasTarget, u64)>, StoreError> {
        match self
            .docs
            .get(&keys::alias(tenant, alias), keys::ALIAS_TARGET)
            .await?
        {
            Some(document) => Ok(Some((decode(&document.body)?, document.revision))),
            None => Ok(None),
        }
    }

    /// Follows links from `person` to the root of its group.
    pub async fn root(
        &self,
        tenant: &TenantId,
        person: &PersonId,
    ) -> Result<PersonId, ProfileError> {
        let mut current = person.clone();
        for _ in 0..MAX_CHAIN {
            match self.target(tenant, &current).await? {
                Some((target, _)) => current = target.person,
                None => return Ok(current),
            }
        }
        Err(ProfileError::GroupTooLarge)
    }

    /// Ids linked directly to `person` (checked against their targets, so a link
    /// that was moved or removed midway never counts).
    async fn direct(
        &self,
        tenant: &TenantId,
        person: &PersonId,
    ) -> Result<Vec<PersonId>, ProfileError> {
        let mut linked = Vec::new();
        for (alias, _) in self.docs.list(&keys::links(tenant, person)).await? {
            let Ok(alias) = PersonId::parse(&alias) else {
                continue;
            };
            if let Some((target, _)) = self.target(tenant, &alias).await? {
                if &target.person == person {
                    linked.push(alias);
                }
            }
        }
        Ok(linked)
    }

    /// The whole group of `person`: its root and everything linked to it, transitively.
    pub async fn group(
        &self,
        tenant: &TenantId,
        person: &PersonId,
    ) -> Result<(PersonId, Vec<PersonId>), ProfileError> {
        let root = self.root(tenant, person).await?;
        let members = self.hanging_from(tenant, &root).await?;
        Ok((root, members.into_iter().collect()))
    }

    /// `top` and every id linked to it, transitively (at most [`MAX_GROUP`]).
    async fn hanging_from(
        &self,
        tenant: &TenantId,
        top: &PersonId,
    ) -> Result<BTreeSet<PersonId>, ProfileError> {
        let mut seen = BTreeSet::from([top.clone()]);
        let mut queue = VecDeque::from([top.clone()]);
        while let Some(next) = queue.pop_front() {
            for linked in self.direct(tenant, &next).await? {
                if seen.insert(linked.clone()) {
                    if seen.len() > MAX_GROUP {
                        return Err(ProfileError::GroupTooLarge);
                    }
                    queue.push_back(linked);
                }
            }
        }
        Ok(seen)
    }

    pub async fn view(
        &self,
        tenant: &TenantId,
        person: &PersonId,
    ) -> Result<AliasView, ProfileError> {
        let (root, group) = self.group(tenant, person).await?;
        Ok(AliasView {
            aliases: self.direct(tenant, person).await?,
            person: person.clone(),
            root,
            group,
        })
    }

    /// Links `aliases` to `person`. Every alias is checked before any is written.
    pub async fn link(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        aliases: &[PersonId],
        allow_move: bool,
    ) -> Result<AliasView, ProfileError> {
        let aliases: BTreeSet<&PersonId> = aliases.iter().collect();
        let (_, group) = self.group(tenant, person).await?;
        let mut size = group.len();
        let mut writes = Vec::new();
        for alias in aliases {
            if alias == person {
                return Err(ProfileError::SelfLink);
            }
            if !group.contains(alias) {
                size += self.hanging_from(tenant, alias).await?.len();
            }
            if size > MAX_GROUP {
                return Err(ProfileError::GroupTooLarge);
            }
            // Linking an id that `person` already hangs from would close a loop.
            if self.chain_reaches(tenant, person, alias).await? {
                return Err(ProfileError::AliasCycle(alias.clone()));
            }
            match self.target(tenant, alias).await? {
                Some((target, _)) if &target.person == person => {}
                Some((target, revision)) if allow_move => {
                    writes.push((alias, Expect::Revision(revision), Some(target.person)))
                }
                Some((target, _)) => {
                    return Err(ProfileError::AliasTaken {
                        alias: alias.clone(),
                        owner: target.person,
                    })
                }
                None => writes.push((alias, Expect::Absent, None)),
            }
        }
        let now = Utc::now();
        for (alias, expect, previous) in writes {
            // The link list entry first: readers check it against the target, so a
            // crash between the two writes leaves no dangling member.
            self.docs
                .put(
                    &keys::links(tenant, person),
                    alias.as_str(),
                    "{}",
                    Expect::Anything,
                )
                .await?;
            let target = AliasTarget {
                person: person.clone(),
                linked_at: now,
            };
            if !self
                .docs
                .put(
                    &keys::alias(tenant, alias),
                    keys::ALIAS_TARGET,
                    &encode(&target),
                    expect,
                )
                .await?
            {
                return Err(ProfileError::Conflict);
            }
            if let Some(previous) = previous {
                self.docs
                    .delete(&keys::links(tenant, &previous), alias.as_str())
                    .await?;
            }
        }
        self.view(tenant, person).await
    }

    async fn chain_reaches(
        &self,
        tenant: &TenantId,
        from: &PersonId,
        to: &PersonId,
    ) -> Result<bool, ProfileError> {
        let mut current = from.clone();
        for _ in 0..MAX_CHAIN {
            match self.target(tenant, &current).await? {
                Some((target, _)) if &target.person == to => return Ok(true),
                Some((target, _)) => current = target.person,
                None => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Unlinks `alias` from `person`; takes effect on the next read.
    pub async fn unlink(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        alias: &PersonId,
    ) -> Result<(), ProfileError> {
        match self.target(tenant, alias).await? {
            Some((target, _)) if &target.person == person => {
                self.docs
                    .delete(&keys::alias(tenant, alias), keys::ALIAS_TARGET)
                    .await?;
                self.docs
                    .delete(&keys::links(tenant, person), alias.as_str())
                    .await?;
                Ok(())
            }
            _ => Err(ProfileError::AliasNotFound(alias.clone())),
        }
    }
}

// -------------------------------------------------------------- journeys

/// A journey across an alias group: each member's Tape, merged by sort key.
pub struct Journeys {
    tape: Arc<dyn TapeStore>,
    aliases: Arc<Aliases>,
}

impl Journeys {
    pub fn new(tape: Arc<dyn TapeStore>, aliases: Arc<Aliases>) -> Self {
        Self { tape, aliases }
    }

    pub async fn page(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        query: &JourneyQuery,
    ) -> Result<JourneyPage, ProfileError> {
        let (_, group) = self.aliases.group(tenant, person).await?;
        if let [only] = group.as_slice() {
            return Ok(self.tape.query(tenant, only, query).await?);
        }
        let mut events: Vec<StoredEvent> = Vec::new();
        let mut more = false;
        for member in &group {
            let page = self.tape.query(tenant, member, query).await?;
            more |= page.next.is_some();
            events.extend(page.events);
        }
        events.sort_by(|a, b| match query.order {
            Order::Asc => a.sort_key.cmp(&b.sort_key),
            Order::Desc => b.sort_key.cmp(&a.sort_key),
        });
        more |= events.len() > query.limit;
        events.truncate(query.limit);
        let next = match events.last() {
            Some(last) if more => Some(cjaas_core::tape::Cursor {
                after: last.sort_key.clone(),
                order: query.order,
            }),
            _ => None,
        };
        Ok(JourneyPage { events, next })
    }
}

// -------------------------------------------------------------- profiles

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
        let mut explained = explain.then(|| Explain::new(view));
        let (unwindowed, snapshot) = match stored {
            Some(key) if !explain => {
                self.unwindowed_with_snapshot(tenant, &root, &group, view, key, &mut events_read)
                    .await?
            }
            _ => {
                let events = self.read(tenant, &group, None, &mut events_read).await?;
                let mut state = ProfileState::new(view);
                fold_all(
                    &mut state,
                    view,
                    Part::Unwindowed,
                    &events,
                    explained.as_mut(),
                );
                (state, SnapshotUse::None)
            }
        };
        let mut windowed = ProfileState::new(view);
        if view.has_windows() {
            let part = Part::Windowed { now };
            let since = part.since(view);
            let events = self.read(tenant, &group, since, &mut events_read).await?;
            fold_all(&mut windowed, view, part, &events, explained.as_mut());
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
        view: &CompiledView,
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
        fold_all(&mut state, view, Part::Unwindowed, &all, None);
        let snapshot = Snapshot {
            members,
            state,
            saved_at: Utc::now(),
            expires_first: first_expiry(&all, None),
        };
        self.save(&pk, &sk, &snapshot).await;
        Ok((snapshot.state, SnapshotUse::Refolded))
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
        fold_all(&mut snapshot.state, view, Part::Unwindowed, &newer, None);
        snapshot.saved_at = Utc::now();
        snapshot.expires_first = first_expiry(&newer, snapshot.expires_first);
        Ok(Some(snapshot))
    }

    async fn save(&self, pk: &str, sk: &str, snapshot: &Snapshot) {
        if let Err(error) = self
            .docs
            .put(pk, sk, &encode(snapshot), Expect::Anything)
            .await
        {
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
        mut query: JourneyQuery,
        events_read: &mut u64,
    ) -> Result<Vec<StoredEvent>, ProfileError> {
        let mut events = Vec::new();
        loop {
            let page = self.tape.query(tenant, person, &query).await?;
            *events_read += page.events.len() as u64;
            events.extend(page.events);
            match page.next {
                Some(cursor) => query.after = Some(cursor.after),
                None => return Ok(events),
            }
        }
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

fn fold_all(
    state: &mut ProfileState,
    view: &CompiledView,
    part: Part,
    events: &[StoredEvent],
    mut explain: Option<&mut Explain>,
) {
    for stored in events {
        let Ok(event) = serde_json::from_str::<Value>(&stored.event) else {
            continue;
        };
        let Some(time) = time_of_sort_key(&stored.sort_key) else {
            continue;
        };
        let fold_event = FoldEvent {
            sort_key: &stored.sort_key,
            time,
            event: &event,
        };
        state.fold(view, part, &fold_event, explain.as_deref_mut());
    }
}
