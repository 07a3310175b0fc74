//! Every scheduled job, in one table that both triggers dispatch from. In AWS a
//! schedule in `infra/template.yaml` names its job (`Input: '{"job": "<name>"}'`)
//! and the function's handler runs it by that name; the local server runs each job
//! on its own timer.
//!
//! **To add a scheduled job**: its use case in `jobs/`, one [`job`] line in the
//! table of the function that runs it (e.g. [`maintenance_schedules`]; [`scheduled`]
//! is every table), and its schedule in `infra/template.yaml`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::{analytics, audiences, sweep, timers, Jobs};
use crate::failure::Failure;
use crate::wiring::Adapters;

/// A scheduled job's run.
pub type JobFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, Failure>> + Send + 'a>>;
pub type RunJob<A> = for<'a> fn(&'a Jobs<A>, DateTime<Utc>) -> JobFuture<'a>;

/// When the local server runs a job the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstRun {
    AtStart,
    /// One period after the start (e.g. stored reports stay as they are on restart).
    AfterOnePeriod,
}

pub struct ScheduledJob<A> {
    /// The name the schedule gives (`{"job": name}`).
    pub name: &'static str,
    /// How often the local server runs it (AWS: the schedule in the template).
    pub every: Duration,
    pub first_run: FirstRun,
    pub run: RunJob<A>,
}

/// One line of the table.
pub const fn job<A>(
    name: &'static str,
    every: Duration,
    first_run: FirstRun,
    run: RunJob<A>,
) -> ScheduledJob<A> {
    ScheduledJob {
        name,
        every,
        first_run,
        run,
    }
}

/// The sweep's name: its schedule is the maintenance function's `Daily`.
pub const SWEEP: &str = "sweep";
/// The analytics run's name; `CJAAS_ANALYTICS_EVERY_SECONDS` sets its local period.
pub const ANALYTICS: &str = "analytics";
pub const TIMERS: &str = "timers";
/// Audience windows that let a person in or out with no event.
pub const AUDIENCE_CHECKS: &str = "audience_checks";
/// Audience backfills a crash or a lost request left unfinished.
pub const AUDIENCE_BACKFILLS: &str = "audience_backfills";

const MINUTE: Duration = Duration::from_secs(60);

/// The maintenance function's scheduled job.
pub fn maintenance_schedules<A: Adapters>() -> Vec<ScheduledJob<A>> {
    vec![job(SWEEP, 60 * MINUTE, FirstRun::AtStart, |j, at| {
        Box::pin(sweep::scheduled(j, at))
    })]
}

/// The analytics function's scheduled job.
pub fn analytics_schedules<A: Adapters>() -> Vec<ScheduledJob<A>> {
    vec![job(
        ANALYTICS,
        5 * MINUTE,
        FirstRun::AfterOnePeriod,
        |j, at| Box::pin(analytics::scheduled(j, at)),
    )]
}

/// The orchestrator's scheduled jobs.
pub fn orchestration_schedules<A: Adapters>() -> Vec<ScheduledJob<A>> {
    use FirstRun::*;
    vec![
        job(TIMERS, Duration::from_secs(5), AtStart, |j, at| {
            Box::pin(timers::scheduled(j, at))
        }),
        job(AUDIENCE_CHECKS, Duration::from_secs(5), AtStart, |j, at| {
            Box::pin(audiences::scheduled_checks(j, at))
        }),
        job(AUDIENCE_BACKFILLS, 60 * MINUTE, AtStart, |j, _| {
            Box::pin(audiences::scheduled_backfills(j))
        }),
    ]
}

/// Every scheduled job: each function's, together (the local server runs them all).
pub fn scheduled<A: Adapters>() -> Vec<ScheduledJob<A>> {
    let mut all = maintenance_schedules();
    all.extend(analytics_schedules());
    all.extend(orchestration_schedules());
    all
}
