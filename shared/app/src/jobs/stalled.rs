//! Jobs a crashed worker left `running`: a backtest or an audience backfill saves
//! its progress as it goes (its heartbeat, `heartbeat_at`); one with no heartbeat for
//! [`STALE_AFTER`] has lost its worker (a Lambda timeout, a killed process), and
//! the maintenance sweep says so:
//!
//! - a **backtest** is marked `failed` with `reason: stalled` (it is not run again on
//!   its own: request another); so is one still `pending` [`STALE_AFTER`] after its
//!   request (the request was lost, or its worker died before starting it);
//! - an **audience backfill** is marked `failed` with `reason: stalled` and counts the
//!   stall; the `audience_backfills` schedule starts it again, until it has stalled
//!   [`MAX_STALLS`] times (then it waits for a new version or request).
//!
//! Each mark is a conditional write on the revision read, so a worker that is alive
//! after all keeps its job (its next save loses the race and it stops).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use cjaas_core::audience::keys;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{DocumentStore, Expect, StoreError};

use super::backtest::{jobs_key, BacktestJob, BacktestStatus};
use crate::audiences::{BackfillState, BackfillStatus, MAX_STALLS, STALLED};
use crate::documents::{decode, encode};

/// No heartbeat for this long means the worker is gone: longer than any Lambda may
/// run (15 minutes), and far longer than the workers' progress saves (every second
/// for a backtest, every 25 persons for a backfill).
pub const STALE_AFTER: Duration = Duration::minutes(20);

/// What one tenant's check found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stalled {
    pub backtests: u64,
    pub backfills: u64,
}

fn stale(
    heartbeat: Option<DateTime<Utc>>,
    started: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    heartbeat
        .or(started)
        .is_none_or(|beat| now - beat > STALE_AFTER)
}

fn detail(heartbeat: Option<DateTime<Utc>>) -> String {
    match heartbeat {
        Some(beat) => format!(
            "the worker stopped: no progress since {}",
            beat.to_rfc3339()
        ),
        None => "the worker stopped before saving any progress".into(),
    }
}

/// Marks the tenant's stalled backtests and backfills (see the module docs).
pub async fn fail_stalled(
    docs: &dyn DocumentStore,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> Result<Stalled, StoreError> {
    let mut found = Stalled::default();
    let pk = jobs_key(tenant);
    for (sk, document) in docs.list(&pk).await? {
        let mut job: BacktestJob = decode(&document.body)?;
        let error = match job.status {
            BacktestStatus::Running if stale(job.heartbeat_at, job.started_at, now) => {
                detail(job.heartbeat_at)
            }
            BacktestStatus::Pending if now - job.requested_at > STALE_AFTER => {
                "the job never started: its request was lost".into()
            }
            _ => continue,
        };
        job.status = BacktestStatus::Failed;
        job.error = Some(error);
        job.reason = Some(STALLED.into());
        job.completed_at = Some(now);
        let expect = Expect::Revision(document.revision);
        if docs.put(&pk, &sk, &encode(&job), expect).await? {
            tracing::warn!(tenant = %tenant, job = %sk, "stalled backtest marked failed");
            found.backtests += 1;
        }
    }
    let pk = keys::statuses(tenant);
    for (sk, document) in docs.list(&pk).await? {
        let mut status: BackfillStatus = decode(&document.body)?;
        if status.state != BackfillState::Running
            || !stale(status.heartbeat_at, status.started_at, now)
        {
            continue;
        }
        status.state = BackfillState::Failed;
        status.error = Some(detail(status.heartbeat_at));
        status.reason = Some(STALLED.into());
        status.stalls += 1;
        let expect = Expect::Revision(document.revision);
        if docs.put(&pk, &sk, &encode(&status), expect).await? {
            let restarts = status.stalls < MAX_STALLS;
            tracing::warn!(tenant = %tenant, audience = %sk, stalls = status.stalls, restarts, "stalled audience backfill marked failed");
            found.backfills += 1;
        }
    }
    Ok(found)
}
