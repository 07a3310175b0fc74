//! The one way through: every trigger that is not an HTTP request (a schedule, a
//! message on the CJaaS bus, an operator command) is a [`Trigger`], run by
//! [`Jobs::run_in`] for the function's [`Family`] (a Lambda function) or by
//! [`Jobs::run`] for all of them (the local scheduler and CLI). Those only build
//! the trigger from their payload and report the result.
//!
//! The services are built from the deployment's adapters on first use and kept, so
//! a function is only asked for the resources of the triggers it receives.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::{Arc, OnceLock};

use cjaas_core::ports::{ConfigStore, TapeStore};

use super::{AnalyticsJob, Backtests, BusMessage, Family, Maintenance, Operation, Operations};
use crate::actions::ActionRunner;
use crate::audiences::Membership;
use crate::failure::Failure;
use crate::orchestration::Orchestrator;
use crate::wiring::{Adapters, Wiring};

/// What asks for a job.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A schedule named its job (one of [`scheduled`]).
    Schedule { job: String, at: DateTime<Utc> },
    /// A message on the CJaaS bus.
    Message {
        message: BusMessage,
        at: DateTime<Utc>,
    },
    /// An operator command.
    Operation(Operation),
}

/// The services the jobs run on, each built once, when first needed.
pub struct Jobs<A> {
    wiring: Wiring<A>,
    maintenance: OnceLock<Arc<Maintenance>>,
    analytics: OnceLock<Arc<AnalyticsJob>>,
    orchestrator: OnceLock<Arc<Orchestrator>>,
    actions: OnceLock<Arc<ActionRunner>>,
    operations: OnceLock<Arc<Operations>>,
    membership: OnceLock<Arc<Membership>>,
    backtests: OnceLock<Arc<Backtests>>,
}

fn built<T, E: std::fmt::Display>(
    cell: &OnceLock<Arc<T>>,
    build: impl FnOnce() -> Result<T, E>,
) -> Result<Arc<T>, Failure> {
    if let Some(service) = cell.get() {
        return Ok(service.clone());
    }
    let service = Arc::new(build().map_err(Failure::wiring)?);
    Ok(cell.get_or_init(|| service).clone())
}

pub(crate) fn to_json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("job results serialize")
}

impl<A: Adapters> Jobs<A> {
    pub fn new(wiring: Wiring<A>) -> Self {
        Self {
            wiring,
            maintenance: OnceLock::new(),
            analytics: OnceLock::new(),
            orchestrator: OnceLock::new(),
            actions: OnceLock::new(),
            operations: OnceLock::new(),
            membership: OnceLock::new(),
            backtests: OnceLock::new(),
        }
    }

    /// For a job whose services are not kept here: build them per run.
    pub fn wiring(&self) -> &Wiring<A> {
        &self.wiring
    }

    pub fn maintenance(&self) -> Result<Arc<Maintenance>, Failure> {
        built(&self.maintenance, || self.wiring.maintenance())
    }

    pub fn analytics(&self) -> Result<Arc<AnalyticsJob>, Failure> {
        built(&self.analytics, || self.wiring.analytics_job())
    }

    pub fn orchestrator(&self) -> Result<Arc<Orchestrator>, Failure> {
        built(&self.orchestrator, || self.wiring.orchestrator())
    }

    pub fn actions(&self) -> Result<Arc<ActionRunner>, Failure> {
        built(&self.actions, || self.wiring.action_runner())
    }

    pub fn operations(&self) -> Result<Arc<Operations>, Failure> {
        built(&self.operations, || self.wiring.operations())
    }

    pub fn membership(&self) -> Result<Arc<Membership>, Failure> {
        built(&self.membership, || self.wiring.membership())
    }

    pub fn backtests(&self) -> Result<Arc<Backtests>, Failure> {
        built(&self.backtests, || self.wiring.backtests())
    }

    pub fn config(&self) -> Result<Arc<dyn ConfigStore>, Failure> {
        self.wiring.0.config().map_err(Failure::wiring)
    }

    pub fn tape(&self) -> Result<Arc<dyn TapeStore>, Failure> {
        self.wiring.0.tape().map_err(Failure::wiring)
    }

    /// Runs what the trigger asks for, whichever function's it is; its report (or
    /// result) as JSON. A Lambda function runs only its own ([`Jobs::run_in`]).
    pub async fn run(&self, trigger: Trigger) -> Result<Value, Failure> {
        self.run_in(&Family::every(), trigger).await
    }

    /// An operator command: the projection backfill on the Tape, the others on
    /// tenants and keys ([`Operations`]).
    pub async fn operate(&self, operation: Operation) -> Result<Value, Failure> {
        match operation {
            Operation::BackfillProjection { budget_seconds } => {
                let budget = budget_seconds.map(std::time::Duration::from_secs);
                Ok(to_json(self.tape()?.backfill_projection(budget).await?))
            }
            other => self.operations()?.run(other).await,
        }
    }
}
