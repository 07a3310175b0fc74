//! What the API reads: members (paged, with when they entered), a person's
//! audiences, and the daily size series.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use cjaas_core::audience::keys;
use cjaas_core::deliveries::{encode_cursor, PageQuery};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{DocumentStore, Expect, StoreError};

use crate::documents::{decode, encode};

use super::definitions::{head, list};
use super::membership::{Member, Membership};
use super::AudienceError;

/// The size counter's key: after every date.
const CURRENT: &str = "~current";
/// The longest size series one request may ask for.
pub const MAX_SERIES_DAYS: i64 = 366;
/// Rows read per members request at most (rows of persons who left are skipped).
const MAX_SCANNED: usize = 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Size {
    size: i64,
    /// The counter's revision this value was taken at: a slower writer never puts
    /// an older value over a newer one.
    #[serde(default)]
    at_revision: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberView {
    pub person: PersonId,
    pub entered_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberPage {
    pub members: Vec<MemberView>,
    /// Pass back as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonAudience {
    pub id: String,
    pub name: String,
    pub entered_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SizePoint {
    pub date: String,
    pub size: u64,
}

/// Adds `delta` to the audience's size, and records the new value for `at`'s day.
pub(super) async fn adjust_size(
    docs: &dyn DocumentStore,
    tenant: &TenantId,
    audience: &str,
    delta: i64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let pk = keys::sizes(tenant, audience);
    let (size, revision) = loop {
        let current = docs.get(&pk, CURRENT).await?;
        let (size, expect, revision) = match &current {
            Some(document) => (
                decode::<Size>(&document.body)?.size,
                Expect::Revision(document.revision),
                document.revision + 1,
            ),
            None => (0, Expect::Absent, 1),
        };
        let next = Size {
            size: (size + delta).max(0),
            at_revision: revision,
        };
        if docs.put(&pk, CURRENT, &encode(&next), expect).await? {
            break (next.size, revision);
        }
    };
    record_day(docs, &pk, &keys::day(at.date_naive()), size, revision).await
}

/// Sets the audience's size to an exact count (after a backfill).
pub(super) async fn set_size(
    docs: &dyn DocumentStore,
    tenant: &TenantId,
    audience: &str,
    size: i64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let pk = keys::sizes(tenant, audience);
    let revision = loop {
        let current = docs.get(&pk, CURRENT).await?;
        let (expect, revision) = match &current {
            Some(document) => (Expect::Revision(document.revision), document.revision + 1),
            None => (Expect::Absent, 1),
        };
        let next = Size {
            size,
            at_revision: revision,
        };
        if docs.put(&pk, CURRENT, &encode(&next), expect).await? {
            break revision;
        }
    };
    record_day(docs, &pk, &keys::day(at.date_naive()), size, revision).await
}

async fn record_day(
    docs: &dyn DocumentStore,
    pk: &str,
    day: &str,
    size: i64,
    revision: u64,
) -> Result<(), StoreError> {
    loop {
        let current = docs.get(pk, day).await?;
        let expect = match &current {
            Some(document) => {
                if decode::<Size>(&document.body)?.at_revision >= revision {
                    return Ok(());
                }
                Expect::Revision(document.revision)
            }
            None => Expect::Absent,
        };
        let value = Size {
            size,
            at_revision: revision,
        };
        if docs.put(pk, day, &encode(&value), expect).await? {
            return Ok(());
        }
    }
}

impl Membership {
    /// The audience's members, in person-id order, with when they entered.
    pub async fn members(
        &self,
        tenant: &TenantId,
        id: &str,
        page: &PageQuery,
    ) -> Result<MemberPage, AudienceError> {
        if head(self.docs.as_ref(), tenant, id).await?.is_none() {
            return Err(AudienceError::NotFound(id.to_owned()));
        }
        let pk = keys::members(tenant, id);
        let mut after = page.after.clone();
        let mut members = Vec::new();
        let mut scanned = 0;
        loop {
            let rows = self
                .docs
                .list_page(&pk, after.as_deref(), page.limit)
                .await?;
            let full = rows.len() == page.limit;
            for (sk, document) in rows {
                scanned += 1;
                after = Some(sk.clone());
                let row: Member = decode(&document.body)?;
                if let (true, Ok(person)) = (row.member, PersonId::parse(&sk)) {
                    members.push(MemberView {
                        person,
                        entered_at: row.since,
                    });
                    if members.len() == page.limit {
                        break;
                    }
                }
            }
            let more = full || members.len() == page.limit;
            if !more {
                return Ok(MemberPage {
                    members,
                    next_cursor: None,
                });
            }
            if members.len() == page.limit || scanned >= MAX_SCANNED {
                return Ok(MemberPage {
                    members,
                    next_cursor: after.as_deref().map(encode_cursor),
                });
            }
        }
    }

    /// The audiences `person`'s alias group is in.
    pub async fn of_person(
        &self,
        tenant: &TenantId,
        person: &PersonId,
    ) -> Result<(PersonId, Vec<PersonAudience>), AudienceError> {
        let root = self
            .aliases
            .root(tenant, person)
            .await
            .map_err(|e| match e {
                crate::profiles::ProfileError::Store(e) => AudienceError::Store(e),
                other => AudienceError::Profile(other),
            })?;
        let mut found = Vec::new();
        for audience in list(self.docs.as_ref(), tenant).await? {
            let pk = keys::members(tenant, &audience.id);
            if let Some(document) = self.docs.get(&pk, root.as_str()).await? {
                let row: Member = decode(&document.body)?;
                if row.member {
                    found.push(PersonAudience {
                        id: audience.id,
                        name: audience.definition.name,
                        entered_at: row.since,
                    });
                }
            }
        }
        Ok((root, found))
    }

    /// The member count at the end of each day from `from` to `to` (today's: now).
    pub async fn sizes(
        &self,
        tenant: &TenantId,
        id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<SizePoint>, AudienceError> {
        if head(self.docs.as_ref(), tenant, id).await?.is_none() {
            return Err(AudienceError::NotFound(id.to_owned()));
        }
        let mut days = Vec::new();
        for (sk, document) in self.docs.list(&keys::sizes(tenant, id)).await? {
            if sk != CURRENT {
                days.push((sk, decode::<Size>(&document.body)?.size));
            }
        }
        let mut series = Vec::new();
        let mut known = days.iter().peekable();
        let mut size = 0;
        let mut day = from;
        while day <= to {
            let key = keys::day(day);
            while let Some((_, value)) = known.next_if(|(d, _)| d.as_str() <= key.as_str()) {
                size = *value;
            }
            series.push(SizePoint {
                date: key,
                size: size.max(0) as u64,
            });
            day += Duration::days(1);
        }
        Ok(series)
    }
}
