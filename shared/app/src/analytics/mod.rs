//! Journey analytics on a schedule: settings, funnels, the incremental job and its
//! reports (the figures themselves are defined in `cjaas_core::analytics`).
//!
//! A run keeps one digest per person: that person's tallies per window. It walks the
//! stored digests page by page and refreshes only the persons the Tape's change feed
//! names since the last watermark (late events included: the feed is by write time),
//! and those whose digest has expired because an event left a window. A person is
//! refreshed by streaming their Tape, so only bounded state per person is in flight.
//! The tenant's figures are the sum of the digests.

use chrono::{DateTime, Duration, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::sync::Arc;

mod run;

use crate::documents::{decode, encode};
use crate::jobs::BusMessage;
use cjaas_core::analytics::{
    keys, new_funnel_id, valid_funnel_id, AnalyticsSettings, FieldProblem, Funnel,
    FunnelDefinition, FunnelReport, WindowReport, FUNNEL_ID_PREFIX, MAX_FUNNELS,
};
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{
    BusEvent, DocumentStore, EventBus, Expect, Limit, LimitedOutcome, LimitedWrite, StoreError,
    TapeStore,
};

/// The tenant's funnels, counted against [`MAX_FUNNELS`].
fn funnels_limit(tenant: &TenantId) -> Limit {
    Limit {
        pk: keys::funnels(tenant),
        prefix: FUNNEL_ID_PREFIX,
        max: MAX_FUNNELS,
    }
}

/// How far before the last watermark a run reads the change feed by default: covers
/// writers' clock skew and the feed's eventual consistency.
pub const WATERMARK_LAG_SECONDS: i64 = 120;
/// Digests read per page, and persons refreshed at once.
const DIGEST_PAGE: usize = 200;
/// Shortest time between two on-demand runs of one tenant.
pub const ON_DEMAND_INTERVAL_SECONDS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("the request is invalid")]
    Invalid(Vec<FieldProblem>),
    #[error("no funnel {0}")]
    FunnelNotFound(String),
    #[error("a tenant has at most {MAX_FUNNELS} funnels")]
    TooManyFunnels,
    #[error("{0} is not one of this tenant's windows ({1})")]
    UnknownWindow(String, String),
    #[error("window {0} has not been computed yet; ask for a run or wait for the schedule")]
    NotComputed(String),
    #[error("a recomputation was requested at {requested_at}; ask again after {retry_at}")]
    RateLimited {
        requested_at: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    },
    #[error("a concurrent change won; read the current state and try again")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AnalyticsError {
    pub fn code(&self) -> &'static str {
        match self {
            AnalyticsError::Invalid(_) => "invalid_request",
            AnalyticsError::FunnelNotFound(_) => "funnel_not_found",
            AnalyticsError::TooManyFunnels => "too_many_funnels",
            AnalyticsError::UnknownWindow(..) => "unknown_window",
            AnalyticsError::NotComputed(_) => "not_computed",
            AnalyticsError::RateLimited { .. } => "rate_limited",
            AnalyticsError::Conflict => "conflict",
            AnalyticsError::Store(_) => "store_unavailable",
        }
    }
}

/// What the job remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    /// Changes written before this were taken into account.
    pub watermark: Option<DateTime<Utc>>,
    pub basis: String,
    pub last_run: Option<RunSummary>,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Every digest was recomputed (first run, or settings or funnels changed).
    pub full: bool,
    pub persons: u64,
    pub persons_refreshed: u64,
    pub events_read: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    pub requested_at: DateTime<Utc>,
}

/// `GET /v1/analytics/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub settings: AnalyticsSettings,
    pub last_run: Option<RunSummary>,
    pub last_request: Option<RunRequest>,
}

pub struct Analytics {
    tape: Arc<dyn TapeStore>,
    docs: Arc<dyn DocumentStore>,
    bus: Arc<dyn EventBus>,
    watermark_lag: Duration,
    step_batch: usize,
}

impl Analytics {
    pub fn new(
        tape: Arc<dyn TapeStore>,
        docs: Arc<dyn DocumentStore>,
        bus: Arc<dyn EventBus>,
    ) -> Self {
        Self {
            tape,
            docs,
            bus,
            watermark_lag: Duration::seconds(WATERMARK_LAG_SECONDS),
            step_batch: run::STEP_BATCH,
        }
    }

    /// Overrides [`WATERMARK_LAG_SECONDS`] (one process with one clock needs none).
    pub fn with_watermark_lag(mut self, lag: Duration) -> Self {
        self.watermark_lag = lag;
        self
    }

    /// Overrides how many steps a run reads into memory at once (at least one person's
    /// first page is read whatever the figure).
    pub fn with_step_batch(mut self, steps: usize) -> Self {
        self.step_batch = steps;
        self
    }

    async fn read<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<(T, u64)>, StoreError> {
        match self.docs.get(pk, sk).await? {
            Some(doc) => Ok(Some((decode(&doc.body)?, doc.revision))),
            None => Ok(None),
        }
    }

    // ------------------------------------------------------------ settings

    pub async fn settings(&self, tenant: &TenantId) -> Result<AnalyticsSettings, AnalyticsError> {
        let stored = self.read(&keys::analytics(tenant), keys::SETTINGS).await?;
        Ok(stored.map(|(s, _)| s).unwrap_or_default())
    }

    /// Replaces the settings; the next run recomputes every digest.
    pub async fn put_settings(
        &self,
        tenant: &TenantId,
        settings: AnalyticsSettings,
    ) -> Result<AnalyticsSettings, AnalyticsError> {
        settings.validate().map_err(AnalyticsError::Invalid)?;
        self.docs
            .put(
                &keys::analytics(tenant),
                keys::SETTINGS,
                &encode(&settings),
                Expect::Anything,
            )
            .await?;
        Ok(settings)
    }

    // ------------------------------------------------------------- funnels

    pub async fn create_funnel(
        &self,
        tenant: &TenantId,
        definition: FunnelDefinition,
    ) -> Result<Funnel, AnalyticsError> {
        definition.validate().map_err(AnalyticsError::Invalid)?;
        let now = Utc::now();
        let funnel = Funnel {
            id: new_funnel_id(),
            definition,
            created_at: now,
            updated_at: now,
        };
        let body = encode(&funnel);
        let create = LimitedWrite::Create {
            sk: &funnel.id,
            body: &body,
        };
        match self
            .docs
            .write_limited(&funnels_limit(tenant), create)
            .await?
        {
            LimitedOutcome::Done => Ok(funnel),
            LimitedOutcome::LimitReached => Err(AnalyticsError::TooManyFunnels),
            LimitedOutcome::Unchanged => Err(AnalyticsError::Conflict),
        }
    }

    async fn stored_funnel(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<(Funnel, u64), AnalyticsError> {
        if !valid_funnel_id(id) {
            return Err(AnalyticsError::FunnelNotFound(id.to_owned()));
        }
        self.read(&keys::funnels(tenant), id)
            .await?
            .ok_or_else(|| AnalyticsError::FunnelNotFound(id.to_owned()))
    }

    pub async fn funnel(&self, tenant: &TenantId, id: &str) -> Result<Funnel, AnalyticsError> {
        Ok(self.stored_funnel(tenant, id).await?.0)
    }

    pub async fn funnels(&self, tenant: &TenantId) -> Result<Vec<Funnel>, AnalyticsError> {
        let docs = self.docs.list(&keys::funnels(tenant)).await?;
        Ok(docs
            .iter()
            .map(|(_, doc)| decode(&doc.body))
            .collect::<Result<_, _>>()?)
    }

    pub async fn update_funnel(
        &self,
        tenant: &TenantId,
        id: &str,
        definition: FunnelDefinition,
    ) -> Result<Funnel, AnalyticsError> {
        definition.validate().map_err(AnalyticsError::Invalid)?;
        let (mut funnel, revision) = self.stored_funnel(tenant, id).await?;
        funnel.definition = definition;
        funnel.updated_at = Utc::now();
        let written = self
            .docs
            .put(
                &keys::funnels(tenant),
                id,
                &encode(&funnel),
                Expect::Revision(revision),
            )
            .await?;
        if !written {
            return Err(AnalyticsError::Conflict);
        }
        Ok(funnel)
    }

    pub async fn delete_funnel(&self, tenant: &TenantId, id: &str) -> Result<(), AnalyticsError> {
        self.stored_funnel(tenant, id).await?;
        let delete = LimitedWrite::Delete { sk: id };
        match self
            .docs
            .write_limited(&funnels_limit(tenant), delete)
            .await?
        {
            LimitedOutcome::Unchanged => Err(AnalyticsError::FunnelNotFound(id.to_owned())),
            _ => Ok(()),
        }
    }

    // ------------------------------------------------------------- reports

    /// The last computed report of `window`.
    pub async fn report(
        &self,
        tenant: &TenantId,
        window: &str,
    ) -> Result<WindowReport, AnalyticsError> {
        let settings = self.settings(tenant).await?;
        if !settings.windows.iter().any(|w| w == window) {
            return Err(AnalyticsError::UnknownWindow(
                window.to_owned(),
                settings.windows.join(", "),
            ));
        }
        self.read(&keys::analytics(tenant), &keys::report(window))
            .await?
            .map(|(report, _)| report)
            .ok_or_else(|| AnalyticsError::NotComputed(window.to_owned()))
    }

    /// One funnel's part of a window's report, with when it was computed.
    pub async fn funnel_report(
        &self,
        tenant: &TenantId,
        id: &str,
        window: &str,
    ) -> Result<(FunnelReport, WindowReport), AnalyticsError> {
        self.funnel(tenant, id).await?;
        let mut report = self.report(tenant, window).await?;
        let position = report
            .funnels
            .iter()
            .position(|f| f.id == id)
            .ok_or_else(|| AnalyticsError::NotComputed(window.to_owned()))?;
        let funnel = report.funnels.swap_remove(position);
        Ok((funnel, report))
    }

    pub async fn status(&self, tenant: &TenantId) -> Result<Status, AnalyticsError> {
        let pk = keys::analytics(tenant);
        let job: Option<(JobState, u64)> = self.read(&pk, keys::JOB).await?;
        let request = self.read(&pk, keys::REQUEST).await?;
        Ok(Status {
            settings: self.settings(tenant).await?,
            last_run: job.and_then(|(j, _)| j.last_run),
            last_request: request.map(|(r, _)| r),
        })
    }

    // ---------------------------------------------------------------- runs

    /// Asks for a recomputation, at most once per [`ON_DEMAND_INTERVAL_SECONDS`]. The
    /// slot is claimed with a conditional write before the request is published, so
    /// concurrent callers cannot both get through.
    pub async fn request_run(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<RunRequest, AnalyticsError> {
        let pk = keys::analytics(tenant);
        let previous: Option<(RunRequest, u64)> = self.read(&pk, keys::REQUEST).await?;
        let expect = match &previous {
            Some((request, revision)) => {
                let retry_at = request.requested_at + Duration::seconds(ON_DEMAND_INTERVAL_SECONDS);
                if now < retry_at {
                    return Err(AnalyticsError::RateLimited {
                        requested_at: request.requested_at,
                        retry_at,
                    });
                }
                Expect::Revision(*revision)
            }
            None => Expect::Absent,
        };
        let request = RunRequest { requested_at: now };
        if !self
            .docs
            .put(&pk, keys::REQUEST, &encode(&request), expect)
            .await?
        {
            // A concurrent caller claimed the slot first.
            return Err(AnalyticsError::RateLimited {
                requested_at: now,
                retry_at: now + Duration::seconds(ON_DEMAND_INTERVAL_SECONDS),
            });
        }
        let event = BusEvent::from(&BusMessage::AnalyticsRunRequested {
            tenant: tenant.clone(),
            requested_at: Some(now),
        });
        if let Err(e) = self.bus.publish(&[event]).await {
            // Give the slot back: nothing was requested.
            let _ = self.docs.delete(&pk, keys::REQUEST).await;
            return Err(e.into());
        }
        Ok(request)
    }
}
