//! The backfill of an audience version over every existing Tape, as a background
//! job with progress. Its changes carry the backfill source, so no rule fires.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use cjaas_core::audience::{keys, StoredAudience};
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{DocumentStore, Expect, StoreError};

use crate::documents::{decode, encode};

use super::membership::{Cause, Member, Membership, MembershipReport};
use super::reads::set_size;

/// How often (in persons) the progress is saved.
const PROGRESS_EVERY: u64 = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackfillState {
    /// Requested, not started.
    Queued,
    Running,
    Done,
    /// A newer version was saved; its own backfill takes over.
    Superseded,
    /// It stopped on a store failure; the next request (or retry) starts it again.
    Failed,
}

/// `GET /v1/audiences/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillStatus {
    pub audience: String,
    pub version: u32,
    pub state: BackfillState,
    /// Persons with a Tape, counted when the run started.
    pub persons_total: u64,
    pub persons_done: u64,
    pub entered: u64,
    pub exited: u64,
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Marks the version's backfill queued.
pub(super) async fn queue_status(
    docs: &dyn DocumentStore,
    tenant: &TenantId,
    audience: &StoredAudience,
) -> Result<(), StoreError> {
    let status = BackfillStatus {
        audience: audience.id.clone(),
        version: audience.version,
        state: BackfillState::Queued,
        persons_total: 0,
        persons_done: 0,
        entered: 0,
        exited: 0,
        requested_at: Utc::now(),
        started_at: None,
        finished_at: None,
        error: None,
    };
    let pk = keys::statuses(tenant);
    docs.put(&pk, &audience.id, &encode(&status), Expect::Anything)
        .await?;
    Ok(())
}

impl Membership {
    async fn save_status(
        &self,
        tenant: &TenantId,
        status: &BackfillStatus,
    ) -> Result<(), StoreError> {
        let pk = keys::statuses(tenant);
        self.docs
            .put(&pk, &status.audience, &encode(status), Expect::Anything)
            .await?;
        Ok(())
    }

    /// Whether `version` is still the audience's latest.
    async fn current(
        &self,
        tenant: &TenantId,
        id: &str,
        version: u32,
    ) -> Result<Option<super::membership::Active>, StoreError> {
        Ok(self
            .active(tenant)
            .await?
            .into_iter()
            .find(|a| a.stored.id == id && a.stored.version == version))
    }

    /// Evaluates every person with a Tape against the audience's `version`, saving
    /// progress as it goes. A newer version stops it (`superseded`).
    pub async fn backfill(
        &self,
        tenant: &TenantId,
        id: &str,
        version: u32,
    ) -> Result<BackfillStatus, StoreError> {
        let pk = keys::statuses(tenant);
        let mut status: BackfillStatus = match self.docs.get(&pk, id).await? {
            Some(document) => decode(&document.body)?,
            None => return Err(StoreError::Rejected(format!("no audience {id}"))),
        };
        if status.version != version
            || matches!(
                status.state,
                BackfillState::Done | BackfillState::Superseded
            )
        {
            return Ok(status);
        }
        let Some(audience) = self.current(tenant, id, version).await? else {
            status.state = BackfillState::Superseded;
            self.save_status(tenant, &status).await?;
            return Ok(status);
        };
        let persons = self.tape.changed_since(tenant, None).await?;
        status.state = BackfillState::Running;
        status.started_at = Some(Utc::now());
        status.persons_total = persons.len() as u64;
        (status.persons_done, status.entered, status.exited) = (0, 0, 0);
        self.save_status(tenant, &status).await?;
        let audiences = [audience];
        let mut report = MembershipReport::default();
        for person in &persons {
            let run = self
                .evaluate(tenant, person, Cause::Backfill, &audiences, &mut report)
                .await;
            if let Err(e) = run {
                status.state = BackfillState::Failed;
                status.error = Some(e.to_string());
                self.save_status(tenant, &status).await?;
                return Err(e);
            }
            status.persons_done += 1;
            (status.entered, status.exited) = (report.entered, report.exited);
            if status.persons_done.is_multiple_of(PROGRESS_EVERY) {
                if self.current(tenant, id, version).await?.is_none() {
                    status.state = BackfillState::Superseded;
                    self.save_status(tenant, &status).await?;
                    return Ok(status);
                }
                self.save_status(tenant, &status).await?;
            }
        }
        let size = self.count_members(tenant, id).await?;
        set_size(self.docs.as_ref(), tenant, id, size, Utc::now()).await?;
        status.state = BackfillState::Done;
        status.finished_at = Some(Utc::now());
        self.save_status(tenant, &status).await?;
        tracing::info!(tenant = %tenant, audience = id, version, persons = status.persons_done, entered = status.entered, exited = status.exited, "audience backfilled");
        Ok(status)
    }

    /// The backfills that were asked for and never finished (a lost request, a
    /// crash, a failure): run them again with [`Membership::backfill`].
    pub async fn unfinished_backfills(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<(String, u32)>, StoreError> {
        let mut unfinished = Vec::new();
        for (id, document) in self.docs.list(&keys::statuses(tenant)).await? {
            let status: BackfillStatus = decode(&document.body)?;
            if matches!(
                status.state,
                BackfillState::Queued | BackfillState::Running | BackfillState::Failed
            ) {
                unfinished.push((id, status.version));
            }
        }
        Ok(unfinished)
    }

    async fn count_members(&self, tenant: &TenantId, id: &str) -> Result<i64, StoreError> {
        let mut count = 0;
        for (_, document) in self.docs.list(&keys::members(tenant, id)).await? {
            if decode::<Member>(&document.body)?.member {
                count += 1;
            }
        }
        Ok(count)
    }
}
