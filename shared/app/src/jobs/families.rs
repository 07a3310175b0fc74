//! Which function serves which trigger. Each event function serves one [`Family`]:
//! the schedules and bus messages its events in `infra/template.yaml` send, and the
//! operator commands it takes. Its `main` names the family, so its binary links only
//! that family's jobs; a trigger of another family is refused (`not_served`), never
//! run. [`Family::every`], behind [`Jobs::run`] (the local server and CLI), is all of
//! them together.

// A family gives back a message it does not serve (`Err(message)`), moved, once per
// trigger: the size of `BusMessage` costs nothing worth boxing it for.
#![allow(clippy::result_large_err)]

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{
    analytics_schedules, maintenance_schedules, orchestration_schedules, run_audience_message,
    scheduled, BacktestError, BusMessage, JobFuture, Jobs, Operation, ScheduledJob, Trigger,
};
use crate::failure::{ErrorKind, Failure};
use crate::wiring::Adapters;

/// Runs a bus message of the family, or gives it back when the family has none such.
pub type MessageRun<A> =
    for<'a> fn(&'a Jobs<A>, BusMessage, DateTime<Utc>) -> Result<JobFuture<'a>, BusMessage>;
/// Runs an operator command of the family, or gives it back.
pub type OperationRun<A> = for<'a> fn(&'a Jobs<A>, Operation) -> Result<JobFuture<'a>, Operation>;

/// The triggers one function serves.
pub struct Family<A> {
    /// The function that serves them (named in a refusal).
    pub function: &'static str,
    schedules: fn() -> Vec<ScheduledJob<A>>,
    messages: MessageRun<A>,
    operations: OperationRun<A>,
}

impl<A: Adapters> Family<A> {
    /// The daily sweep, erasures and the operator's projection backfill.
    pub fn maintenance() -> Self {
        Family {
            function: "maintenance",
            schedules: maintenance_schedules,
            messages: maintenance_messages,
            operations: |jobs, operation| match operation {
                Operation::BackfillProjection { .. } => Ok(Box::pin(jobs.operate(operation))),
                other => Err(other),
            },
        }
    }

    /// Rule backtests (`BacktestRequested`): the rules engine over the Tape's history.
    pub fn backtests() -> Self {
        Family {
            function: "backtests",
            schedules: Vec::new,
            messages: backtest_messages,
            operations: no_operations,
        }
    }

    /// The scheduled analytics run and a tenant's requested run.
    pub fn analytics() -> Self {
        Family {
            function: "analytics",
            schedules: analytics_schedules,
            messages: analytics_messages,
            operations: no_operations,
        }
    }

    /// The actions rules fire.
    pub fn actions() -> Self {
        Family {
            function: "actions",
            schedules: Vec::new,
            messages: actions_messages,
            operations: no_operations,
        }
    }

    /// The orchestrator's schedules (timers, audience checks and backfills) and its
    /// audience messages.
    pub fn orchestration() -> Self {
        Family {
            function: "orchestrator",
            schedules: orchestration_schedules,
            messages: audience_messages,
            operations: no_operations,
        }
    }

    /// Every trigger (the local server and CLI).
    pub fn every() -> Self {
        Family {
            function: "local",
            schedules: scheduled,
            messages: |jobs, message, at| {
                analytics_messages(jobs, message, at)
                    .or_else(|message| maintenance_messages(jobs, message, at))
                    .or_else(|message| backtest_messages(jobs, message, at))
                    .or_else(|message| actions_messages(jobs, message, at))
                    .or_else(|message| audience_messages(jobs, message, at))
            },
            operations: |jobs, operation| Ok(Box::pin(jobs.operate(operation))),
        }
    }
}

impl<A: Adapters> Jobs<A> {
    /// Runs what the trigger asks for if the family serves it; its report as JSON.
    pub async fn run_in(&self, family: &Family<A>, trigger: Trigger) -> Result<Value, Failure> {
        let refused = match trigger {
            Trigger::Schedule { job, at } => {
                let table = (family.schedules)();
                let Some(scheduled) = table.iter().find(|j| j.name == job) else {
                    return Err(unknown_job(family.function, &table, &job));
                };
                tracing::info!(job, "scheduled job");
                return (scheduled.run)(self, at).await;
            }
            Trigger::Message { message, at } => match (family.messages)(self, message, at) {
                Ok(run) => return run.await,
                Err(message) => format!("the bus message {}", message.detail_type()),
            },
            Trigger::Operation(operation) => match (family.operations)(self, operation) {
                Ok(run) => return run.await,
                Err(operation) => format!("the operator command {}", operation.command()),
            },
        };
        tracing::warn!(function = family.function, %refused, "trigger not served");
        Err(Failure {
            kind: ErrorKind::BadRequest,
            code: "not_served",
            detail: format!("the {} function does not serve {refused}", family.function),
        })
    }
}

fn unknown_job<A>(function: &str, table: &[ScheduledJob<A>], name: &str) -> Failure {
    let names: Vec<_> = table.iter().map(|j| j.name).collect();
    Failure {
        kind: ErrorKind::BadRequest,
        code: "unknown_job",
        detail: format!(
            "the {function} function runs no scheduled job named {name:?} (its jobs: {})",
            names.join(", ")
        ),
    }
}

fn no_operations<A>(_: &Jobs<A>, operation: Operation) -> Result<JobFuture<'_>, Operation> {
    Err(operation)
}

fn analytics_messages<A: Adapters>(
    jobs: &Jobs<A>,
    message: BusMessage,
    at: DateTime<Utc>,
) -> Result<JobFuture<'_>, BusMessage> {
    let BusMessage::AnalyticsRunRequested { tenant, .. } = message else {
        return Err(message);
    };
    Ok(Box::pin(async move {
        let runs = jobs.analytics()?.run_requested(&tenant, at).await?;
        Ok(super::run::to_json(runs.into_result()?))
    }))
}

fn maintenance_messages<A: Adapters>(
    jobs: &Jobs<A>,
    message: BusMessage,
    _: DateTime<Utc>,
) -> Result<JobFuture<'_>, BusMessage> {
    let BusMessage::ErasureRequested { tenant, job } = message else {
        return Err(message);
    };
    Ok(Box::pin(async move {
        let done = jobs.maintenance()?.erase(&tenant, &job).await?;
        Ok(json!({ "erasure": done }))
    }))
}

fn backtest_messages<A: Adapters>(
    jobs: &Jobs<A>,
    message: BusMessage,
    _: DateTime<Utc>,
) -> Result<JobFuture<'_>, BusMessage> {
    let BusMessage::BacktestRequested { tenant, job } = message else {
        return Err(message);
    };
    Ok(Box::pin(async move {
        match jobs.backtests()?.run(&tenant, &job).await {
            Ok(done) => Ok(json!({ "backtest": done })),
            // A job that is gone was pruned: nothing to retry.
            Err(BacktestError::NotFound(_)) => Ok(json!({ "backtest": null })),
            Err(e) => Err(e.into()),
        }
    }))
}

fn actions_messages<A: Adapters>(
    jobs: &Jobs<A>,
    message: BusMessage,
    _: DateTime<Utc>,
) -> Result<JobFuture<'_>, BusMessage> {
    let BusMessage::ActionTriggered(action) = message else {
        return Err(message);
    };
    Ok(Box::pin(async move {
        let outcome = jobs.actions()?.run(&action).await?;
        Ok(json!({ "action_id": action.action_id, "outcome": outcome }))
    }))
}

fn audience_messages<A: Adapters>(
    jobs: &Jobs<A>,
    message: BusMessage,
    _: DateTime<Utc>,
) -> Result<JobFuture<'_>, BusMessage> {
    Ok(match message {
        BusMessage::AudienceBackfillRequested { .. } | BusMessage::AliasesChanged { .. } => {
            Box::pin(async move {
                run_audience_message(&*jobs.membership()?, &message).await?;
                Ok(json!({ "done": message.detail_type() }))
            })
        }
        // For the tenant's own consumers: nothing to run here.
        BusMessage::AudienceMembershipChanged(_) => {
            Box::pin(async { Ok(json!({ "ignored": true })) })
        }
        other => return Err(other),
    })
}
