//! The one failure rule of every scheduled job over tenants, tested once for all of
//! them on the real embedded store: a tenant whose data cannot be read fails alone;
//! the others run; the report names the failed tenant and its step; and the report
//! turns into the job's error, which each trigger maps to its own failure (a Lambda's
//! `Err`, the local scheduler's log line).

use chrono::{Duration, Utc};
use std::future::Future;
use std::pin::Pin;

use cjaas_app::failure::AppError;
use cjaas_app::jobs::{all_tenants, run_timers, JobFailed, TenantFailure};
use cjaas_app::wiring::Wiring;
use cjaas_core::archive;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{Archive, DocumentStore, Expect};
use cjaas_core::target::TargetPolicy;
use cjaas_local::adapters::LocalAdapters;
use cjaas_local::EmbeddedStore;

/// The job's failures, a count that only tenants (or steps) that ran add to, and
/// the report as the job's result.
type Outcome = (Vec<TenantFailure>, usize, Result<(), JobFailed>);
type Job<'a> = Pin<Box<dyn Future<Output = Outcome> + 'a>>;

/// One job: what to break in a tenant's documents, and how to run it.
struct Case {
    job: &'static str,
    step: &'static str,
    code: &'static str,
    /// (pk, sk) of a document the job reads for `tenant`; it gets unreadable JSON.
    break_doc: fn(&TenantId) -> (String, String),
    run: for<'a> fn(&'a Wiring<LocalAdapters>) -> Job<'a>,
    /// The count when only the broken tenant's broken step fails.
    done: usize,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            job: "maintenance sweep",
            step: "erasure",
            code: "maintenance_failed",
            break_doc: |t| (cjaas_core::erasure::jobs(t), "erasure-broken".into()),
            done: 3, // the broken step alone fails: each tenant's retention ran
            run: |w| {
                Box::pin(async move {
                    let Ok(job) = w.maintenance();
                    let report = job.sweep_all(Utc::now()).await.unwrap();
                    let (failures, done) =
                        (report.failures.clone(), report.archive_objects_deleted);
                    (failures, done, report.into_result().map(drop))
                })
            },
        },
        Case {
            job: "maintenance sweep (forwarding)",
            step: "forwarding",
            code: "maintenance_failed",
            break_doc: |t| {
                let pk = cjaas_core::forwarding::config_pk(t);
                (pk, cjaas_core::forwarding::CONFIG.into())
            },
            done: 3, // the broken step alone fails: each tenant's retention ran
            run: |w| {
                Box::pin(async move {
                    let Ok(job) = w.maintenance();
                    let report = job.sweep_all(Utc::now()).await.unwrap();
                    let (failures, done) =
                        (report.failures.clone(), report.archive_objects_deleted);
                    (failures, done, report.into_result().map(drop))
                })
            },
        },
        Case {
            job: "analytics run",
            step: "analytics",
            code: "analytics_failed",
            break_doc: |t| {
                let pk = cjaas_core::analytics::keys::analytics(t);
                (pk, cjaas_core::analytics::keys::SETTINGS.into())
            },
            done: 2, // both other tenants' runs
            run: |w| {
                Box::pin(async move {
                    let Ok(job) = w.analytics_job();
                    let runs = job.run_all(Utc::now()).await.unwrap();
                    let (failures, done) = (runs.failures.clone(), runs.runs.len());
                    (failures, done, runs.into_result().map(drop))
                })
            },
        },
        Case {
            job: "absence timers",
            step: "timers",
            code: "timers_failed",
            break_doc: |t| (cjaas_core::rules::keys::timers(t), "0000-broken".into()),
            done: 0, // no timer is due: the other tenants have none
            run: |w| {
                Box::pin(async move {
                    let Ok(orchestrator) = w.orchestrator();
                    let Ok(config) = cjaas_app::wiring::Adapters::config(&w.0);
                    let tenants = all_tenants(config.as_ref()).await.unwrap();
                    let report = run_timers(&orchestrator, &tenants, Utc::now()).await;
                    let failures = report.failures.clone();
                    (
                        failures,
                        report.timers_fired as usize,
                        report.into_result().map(drop),
                    )
                })
            },
        },
    ]
}

/// A retention of one day, and an archive object of last month: the sweep deletes it.
async fn expired_archive_object(wiring: &Wiring<LocalAdapters>, tenant: &TenantId) {
    let Ok(admin) = wiring.admin();
    admin.set_retention(tenant, Some(1)).await.unwrap();
    let partition = archive::partition(tenant.as_str(), Utc::now() - Duration::days(30));
    let key = archive::data_key(&partition, "old");
    wiring.0.archive.put(&key, b"x".to_vec()).await.unwrap();
}

#[tokio::test]
async fn a_failing_tenant_fails_alone_and_is_named() {
    for case in cases() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let adapters = LocalAdapters::new(store.clone(), TargetPolicy::public_only()).unwrap();
        let wiring = Wiring(adapters);
        let Ok(admin) = wiring.admin();
        let tenants: Vec<TenantId> = ["good-a", "bad-b", "good-c"]
            .into_iter()
            .map(|t| TenantId::parse(t).unwrap())
            .collect();
        for tenant in &tenants {
            admin.create_tenant(tenant).await.unwrap();
            expired_archive_object(&wiring, tenant).await;
        }
        let (pk, sk) = (case.break_doc)(&tenants[1]);
        store
            .put(&pk, &sk, "{not json", Expect::Anything)
            .await
            .unwrap();

        let (failures, done, result) = (case.run)(&wiring).await;

        let failed: Vec<_> = failures
            .iter()
            .map(|f| (f.tenant.as_str(), f.step))
            .collect();
        assert_eq!(failed, [("bad-b", case.step)], "{}", case.job);
        assert_eq!(done, case.done, "{}: the other tenants ran", case.job);
        let error = result.expect_err(case.job);
        assert_eq!(error.code(), case.code, "{}", case.job);
        assert!(error.to_string().contains("bad-b"), "{}: {error}", case.job);
        assert!(
            !error.to_string().contains("good-"),
            "{}: {error}",
            case.job
        );
    }
}

#[tokio::test]
async fn a_job_with_no_failure_reports_success() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let wiring = Wiring(LocalAdapters::new(store, TargetPolicy::public_only()).unwrap());
    let Ok(admin) = wiring.admin();
    admin
        .create_tenant(&TenantId::parse("acme").unwrap())
        .await
        .unwrap();
    for case in cases() {
        let (failures, _, result) = (case.run)(&wiring).await;
        assert!(failures.is_empty(), "{}: {failures:?}", case.job);
        assert!(result.is_ok(), "{}", case.job);
    }
}

/// The one table both triggers dispatch from: every scheduled job runs by its name
/// through `Jobs::run`, with the same report (and failure code) as its use case; a
/// name that no job has is refused.
#[tokio::test]
async fn every_scheduled_job_runs_by_its_name() {
    use cjaas_app::jobs::{scheduled, Trigger};
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let wiring = Wiring(LocalAdapters::new(store.clone(), TargetPolicy::public_only()).unwrap());
    let Ok(admin) = wiring.admin();
    let acme = TenantId::parse("acme").unwrap();
    admin.create_tenant(&acme).await.unwrap();
    expired_archive_object(&wiring, &acme).await;
    let jobs = wiring.clone().jobs();
    let run = |job: &str| {
        jobs.run(Trigger::Schedule {
            job: job.into(),
            at: Utc::now(),
        })
    };
    let names: Vec<_> = scheduled::<LocalAdapters>()
        .iter()
        .map(|j| j.name)
        .collect();
    assert_eq!(
        names,
        [
            "sweep",
            "analytics",
            "timers",
            "audience_checks",
            "audience_backfills"
        ]
    );

    let swept = run("sweep").await.unwrap();
    assert_eq!(swept["archive_objects_deleted"], 1, "{swept}");
    let analytics = run("analytics").await.unwrap();
    assert_eq!(analytics["runs"][0]["tenant"], "acme", "{analytics}");
    assert_eq!(run("timers").await.unwrap()["timers_fired"], 0);
    assert_eq!(run("audience_checks").await.unwrap()["exited"], 0);
    assert_eq!(run("audience_backfills").await.unwrap()["entered"], 0);

    let (pk, sk) = (
        cjaas_core::erasure::jobs(&acme),
        "erasure-broken".to_owned(),
    );
    store
        .put(&pk, &sk, "{not json", Expect::Anything)
        .await
        .unwrap();
    let failed = run("sweep").await.unwrap_err();
    assert_eq!(failed.code, "maintenance_failed", "{failed}");
    assert!(failed.kind.transient());

    let unknown = run("no-such-job").await.unwrap_err();
    assert_eq!(unknown.code, "unknown_job");
}
