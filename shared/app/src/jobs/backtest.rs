//! Rule backtests: `POST /v1/rules/{id}/backtest` (or `POST /v1/rules/backtest` with
//! an unsaved rule) records a job and asks a worker to run it (`BacktestRequested` on
//! the CJaaS bus: the `backtests` function in AWS, a task locally). The run
//! ([`super::backtest_run`]) replays the rule over the tenant's Tape in event time,
//! with its cooldown and caps, and fires nothing.
//!
//! Jobs are documents under `T#{tenant}#BACKTESTS` (sort key: the job id), so the
//! embedded store and DynamoDB keep them alike; a tenant keeps its last
//! [`KEPT_JOBS`].

use crate::failure::{problems, AppError, ErrorKind};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

use cjaas_core::ids::TenantId;
use cjaas_core::ports::{BusEvent, DocumentStore, EventBus, Expect, StoreError, TapeStore};
use cjaas_core::problem::FieldProblem;
use cjaas_core::resource_id;
use cjaas_core::rules::RuleDefinition;

use super::BusMessage;
use crate::documents::{decode, encode};
use crate::orchestration::{Policies, RuleError, Rules};
use crate::profiles::{Profiles, Views};

/// The longest window a backtest replays.
pub const MAX_WINDOW_DAYS: i64 = 90;
/// Jobs a tenant keeps; older ones are removed when a new one is requested.
pub const KEPT_JOBS: usize = 20;
/// Firings shown in a result.
pub const SAMPLE: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error("the backtest request is invalid")]
    Invalid(Vec<FieldProblem>),
    #[error("the rule is invalid")]
    InvalidRule(Vec<FieldProblem>),
    #[error("no rule {0}")]
    RuleNotFound(String),
    #[error("no backtest {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AppError for BacktestError {
    fn kind(&self) -> ErrorKind {
        match self {
            BacktestError::Invalid(_) | BacktestError::InvalidRule(_) => ErrorKind::Invalid,
            BacktestError::RuleNotFound(_) | BacktestError::NotFound(_) => ErrorKind::NotFound,
            BacktestError::Store(e) => e.kind(),
        }
    }
    fn code(&self) -> &'static str {
        BacktestError::code(self)
    }
    fn public_detail(&self) -> String {
        match self.code() {
            "invalid_rule" => "the rule is invalid; nothing was started".into(),
            "window_too_long" => "the window is too long; nothing was started".into(),
            "invalid_window" => "from is after to; nothing was started".into(),
            _ if matches!(self, BacktestError::Invalid(_)) => {
                "the backtest request is invalid; nothing was started".into()
            }
            _ => self.to_string(),
        }
    }
    fn problems(&self) -> Option<serde_json::Value> {
        match self {
            BacktestError::Invalid(items) | BacktestError::InvalidRule(items) => problems(items),
            _ => None,
        }
    }
    fn wraps(&self) -> Option<&dyn AppError> {
        match self {
            BacktestError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl BacktestError {
    pub fn code(&self) -> &'static str {
        match self {
            BacktestError::Invalid(problems) => {
                problems.first().map_or("invalid_window", |p| p.code)
            }
            BacktestError::InvalidRule(_) => "invalid_rule",
            BacktestError::RuleNotFound(_) => "rule_not_found",
            BacktestError::NotFound(_) => "backtest_not_found",
            BacktestError::Store(_) => "store_unavailable",
        }
    }
}

impl From<RuleError> for BacktestError {
    fn from(e: RuleError) -> Self {
        match e {
            RuleError::Invalid(problems) => BacktestError::InvalidRule(problems),
            RuleError::NotFound(id) => BacktestError::RuleNotFound(id),
            RuleError::Store(e) => BacktestError::Store(e),
            other => BacktestError::Store(StoreError::Transient(other.to_string())),
        }
    }
}

/// `{from, to}`: the triggering events' event times, both included.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// `POST /v1/rules/backtest`: an unsaved rule and the window.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineBacktest {
    pub rule: RuleDefinition,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BacktestStatus {
    Pending,
    Running,
    Completed,
    Failed,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub persons_done: u64,
    pub persons_total: u64,
    pub events_read: u64,
}

/// One firing of the sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleFiring {
    pub person: String,
    /// The triggering event's event time.
    pub time: DateTime<Utc>,
    /// `id` (when the entries were read), `type`, `source` and `time`.
    pub event: Value,
    pub capped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Day {
    pub day: NaiveDate,
    pub firings: u64,
    pub capped: u64,
    pub persons: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BacktestResult {
    /// Firings that would have carried out their actions.
    pub firings: u64,
    /// Firings a cap would have held back (recorded as `capped`).
    pub capped: u64,
    /// Persons with at least one firing that was not capped.
    pub persons: u64,
    /// `projection` (types, sources and times only) or `entries` (whole events).
    pub read: String,
    /// By the triggering event's UTC day.
    pub per_day: Vec<Day>,
    /// The earliest firings, at most [`SAMPLE`].
    pub sample: Vec<SampleFiring>,
}

/// A backtest job as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestJob {
    pub id: String,
    pub status: BacktestStatus,
    /// The saved rule's id; `null` for an inline rule.
    pub rule_id: Option<String>,
    /// The rule as it was when the backtest was requested.
    pub rule: RuleDefinition,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    pub progress: Progress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<BacktestResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why a `failed` job failed, as a stable code: `not_queued`, `run_failed`, or
    /// `stalled` (its worker stopped; see [`super::stalled`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When its worker last saved progress (a `running` job's heartbeat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_at: Option<DateTime<Utc>>,
}

pub(crate) fn jobs_key(tenant: &TenantId) -> String {
    format!("T#{tenant}#BACKTESTS")
}

fn window_problems(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<FieldProblem> {
    let problem = |code, detail: String| FieldProblem {
        field: "to".into(),
        code,
        detail,
    };
    if from > to {
        vec![problem("invalid_window", "from is after to".into())]
    } else if to - from > Duration::days(MAX_WINDOW_DAYS) {
        vec![problem(
            "window_too_long",
            format!("a backtest covers at most {MAX_WINDOW_DAYS} days"),
        )]
    } else {
        Vec::new()
    }
}

/// The backtest jobs and their runs.
pub struct Backtests {
    pub(super) tape: Arc<dyn TapeStore>,
    pub(super) docs: Arc<dyn DocumentStore>,
    bus: Arc<dyn EventBus>,
    rules: Rules,
    pub(super) policies: Policies,
    pub(super) views: Views,
    pub(super) profiles: Profiles,
}

impl Backtests {
    pub fn new(
        tape: Arc<dyn TapeStore>,
        docs: Arc<dyn DocumentStore>,
        bus: Arc<dyn EventBus>,
        views: Views,
        profiles: Profiles,
    ) -> Self {
        Self {
            rules: Rules::new(docs.clone()),
            policies: Policies::new(docs.clone()),
            tape,
            docs,
            bus,
            views,
            profiles,
        }
    }

    /// A backtest of the saved rule `rule_id`.
    pub async fn request_saved(
        &self,
        tenant: &TenantId,
        rule_id: &str,
        window: Window,
    ) -> Result<BacktestJob, BacktestError> {
        let problems = window_problems(window.from, window.to);
        if !problems.is_empty() {
            return Err(BacktestError::Invalid(problems));
        }
        let rule = self.rules.get(tenant, rule_id).await?;
        self.request(
            tenant,
            Some(rule.id),
            rule.definition,
            window.from,
            window.to,
        )
        .await
    }

    /// A backtest of an unsaved rule, validated as a saved one would be (its targets
    /// aside: a backtest calls nothing).
    pub async fn request_inline(
        &self,
        tenant: &TenantId,
        inline: InlineBacktest,
    ) -> Result<BacktestJob, BacktestError> {
        let window = window_problems(inline.from, inline.to);
        let rule = match self.rules.check_form(tenant, &inline.rule).await {
            Err(RuleError::Invalid(found)) => found
                .into_iter()
                .map(|p| FieldProblem {
                    field: format!("rule/{}", p.field),
                    ..p
                })
                .collect(),
            Err(e) => return Err(e.into()),
            Ok(()) => Vec::new(),
        };
        match (window.is_empty(), rule.is_empty()) {
            (true, true) => {}
            (true, false) => return Err(BacktestError::InvalidRule(rule)),
            (false, _) => return Err(BacktestError::Invalid([window, rule].concat())),
        }
        self.request(tenant, None, inline.rule, inline.from, inline.to)
            .await
    }

    async fn request(
        &self,
        tenant: &TenantId,
        rule_id: Option<String>,
        rule: RuleDefinition,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<BacktestJob, BacktestError> {
        self.prune(tenant).await?;
        let job = BacktestJob {
            id: resource_id::ResourceKind::Backtest.new_id(),
            status: BacktestStatus::Pending,
            rule_id,
            rule,
            from,
            to,
            requested_at: Utc::now(),
            started_at: None,
            completed_at: None,
            progress: Progress::default(),
            result: None,
            error: None,
            reason: None,
            heartbeat_at: None,
        };
        self.docs
            .put(&jobs_key(tenant), &job.id, &encode(&job), Expect::Absent)
            .await?;
        let event = BusEvent::from(&BusMessage::BacktestRequested {
            tenant: tenant.clone(),
            job: job.id.clone(),
        });
        if let Err(e) = self.bus.publish(&[event]).await {
            // Nothing else would run it: the job says so instead of staying pending.
            tracing::warn!(tenant = %tenant, job = %job.id, error = %e, "backtest request not published");
            let mut failed = job.clone();
            failed.status = BacktestStatus::Failed;
            failed.error = Some(format!("the request could not be queued: {e}"));
            failed.reason = Some("not_queued".into());
            self.save(tenant, &failed, 1).await?;
            return Ok(failed);
        }
        tracing::info!(tenant = %tenant, job = %job.id, "backtest requested");
        Ok(job)
    }

    pub async fn get(&self, tenant: &TenantId, id: &str) -> Result<BacktestJob, BacktestError> {
        Ok(self.stored(tenant, id).await?.0)
    }

    pub(super) async fn stored(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<(BacktestJob, u64), BacktestError> {
        if !resource_id::valid(id) {
            return Err(BacktestError::NotFound(id.to_owned()));
        }
        let document = self
            .docs
            .get(&jobs_key(tenant), id)
            .await?
            .ok_or_else(|| BacktestError::NotFound(id.to_owned()))?;
        Ok((decode(&document.body)?, document.revision))
    }

    /// Writes the job if it is still at `revision`; `false` if another run moved it.
    pub(super) async fn save(
        &self,
        tenant: &TenantId,
        job: &BacktestJob,
        revision: u64,
    ) -> Result<bool, StoreError> {
        self.docs
            .put(
                &jobs_key(tenant),
                &job.id,
                &encode(job),
                Expect::Revision(revision),
            )
            .await
    }

    /// Keeps the newest [`KEPT_JOBS`] − 1, making room for one more.
    async fn prune(&self, tenant: &TenantId) -> Result<(), StoreError> {
        let pk = jobs_key(tenant);
        let mut jobs: Vec<(DateTime<Utc>, String)> = Vec::new();
        for (sk, document) in self.docs.list(&pk).await? {
            let job: BacktestJob = decode(&document.body)?;
            jobs.push((job.requested_at, sk));
        }
        if jobs.len() < KEPT_JOBS {
            return Ok(());
        }
        jobs.sort();
        let excess = jobs.len() + 1 - KEPT_JOBS;
        let old: Vec<String> = jobs.into_iter().take(excess).map(|(_, sk)| sk).collect();
        self.docs.put_many(&pk, &[], &old).await
    }
}
