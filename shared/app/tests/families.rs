//! Each Lambda function runs only its family of triggers (what its template events
//! send); any other trigger is refused with a clear error and runs nothing. The local
//! server's `Jobs::run` serves every family. On the real embedded store.

use chrono::Utc;

use cjaas_app::failure::Failure;
use cjaas_app::jobs::{BusMessage, Family, Jobs, Operation, Trigger};
use cjaas_app::wiring::Wiring;
use cjaas_core::ids::TenantId;
use cjaas_core::target::TargetPolicy;
use cjaas_local::adapters::LocalAdapters;
use cjaas_local::EmbeddedStore;

type LocalJobs = Jobs<LocalAdapters>;

fn schedule(job: &str) -> Trigger {
    Trigger::Schedule {
        job: job.into(),
        at: Utc::now(),
    }
}

fn erasure(tenant: &TenantId) -> Trigger {
    Trigger::Message {
        message: BusMessage::ErasureRequested {
            tenant: tenant.clone(),
            job: "no-such-job".into(),
        },
        at: Utc::now(),
    }
}

fn backtest(tenant: &TenantId) -> Trigger {
    Trigger::Message {
        message: BusMessage::BacktestRequested {
            tenant: tenant.clone(),
            job: "no-such-job".into(),
        },
        at: Utc::now(),
    }
}

fn create_tenant(name: &str) -> Trigger {
    Trigger::Operation(Operation::CreateTenant {
        tenant: name.into(),
    })
}

async fn refused(jobs: &LocalJobs, family: Family<LocalAdapters>, trigger: Trigger) -> Failure {
    let name = family.function;
    let failure = jobs.run_in(&family, trigger).await.unwrap_err();
    assert!(!failure.kind.transient(), "{name}: {failure:?}");
    assert!(failure.detail.contains(name), "{name}: {failure:?}");
    failure
}

#[tokio::test]
async fn a_function_runs_only_its_own_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let wiring = Wiring(LocalAdapters::new(store, TargetPolicy::public_only()).unwrap());
    let jobs = wiring.clone().jobs();
    let Ok(admin) = wiring.admin();
    let acme = TenantId::parse("acme").unwrap();
    admin.create_tenant(&acme).await.unwrap();

    // Served: each family's own schedules, messages and commands.
    let swept = jobs.run_in(&Family::maintenance(), schedule("sweep")).await;
    assert!(swept.is_ok(), "{swept:?}");
    let backfill = Trigger::Operation(Operation::BackfillProjection {
        budget_seconds: Some(5),
    });
    let done = jobs.run_in(&Family::maintenance(), backfill).await.unwrap();
    assert_eq!(done["complete"], true, "{done}");
    let analytics = jobs
        .run_in(&Family::analytics(), schedule("analytics"))
        .await;
    assert_eq!(analytics.unwrap()["runs"][0]["tenant"], "acme");
    let timers = jobs
        .run_in(&Family::orchestration(), schedule("timers"))
        .await;
    assert_eq!(timers.unwrap()["timers_fired"], 0);

    // A backtest whose job is gone (pruned) runs to nothing, in its own function only.
    let pruned = jobs.run_in(&Family::backtests(), backtest(&acme)).await;
    assert_eq!(pruned.unwrap(), serde_json::json!({ "backtest": null }));
    let moved = refused(&jobs, Family::maintenance(), backtest(&acme)).await;
    assert_eq!(moved.code, "not_served");
    assert!(moved.detail.contains("BacktestRequested"), "{moved:?}");

    // Another family's schedule: named, with the function's own jobs.
    let sweep = refused(&jobs, Family::orchestration(), schedule("sweep")).await;
    assert_eq!(sweep.code, "unknown_job");
    assert!(sweep.detail.contains("timers"), "{sweep:?}");
    let none = refused(&jobs, Family::actions(), schedule("analytics")).await;
    assert_eq!(none.code, "unknown_job");

    // Another family's message or command: refused, and nothing runs.
    for family in [
        Family::analytics(),
        Family::actions(),
        Family::orchestration(),
        Family::backtests(),
    ] {
        let failure = refused(&jobs, family, erasure(&acme)).await;
        assert_eq!(failure.code, "not_served");
        assert!(failure.detail.contains("ErasureRequested"), "{failure:?}");
    }
    for family in [
        Family::maintenance(),
        Family::analytics(),
        Family::actions(),
        Family::backtests(),
    ] {
        let failure = refused(&jobs, family, create_tenant("globex")).await;
        assert_eq!(failure.code, "not_served");
        assert!(failure.detail.contains("create-tenant"), "{failure:?}");
    }
    let tenants = jobs.config().unwrap().list_tenants().await.unwrap();
    assert_eq!(
        tenants,
        std::slice::from_ref(&acme),
        "a refused command created nothing"
    );

    // The local server's run serves every family.
    let created = jobs.run(create_tenant("globex")).await.unwrap();
    assert_eq!(created["tenant"], "globex", "{created}");
    let erased = jobs.run(erasure(&acme)).await.unwrap_err();
    assert_ne!(erased.code, "not_served", "{erased:?}");
    let pruned = jobs.run(backtest(&acme)).await.unwrap();
    assert_eq!(pruned, serde_json::json!({ "backtest": null }));
    for job in ["sweep", "analytics", "timers", "audience_checks"] {
        let ran = jobs.run(schedule(job)).await;
        assert!(ran.is_ok(), "{job}: {ran:?}");
    }
}

#[test]
fn a_refused_command_is_named_as_its_json_names_it() {
    let commands = [
        serde_json::json!({"command": "create-tenant", "tenant": "a"}),
        serde_json::json!({"command": "create-key", "tenant": "a", "scopes": ["events:write"]}),
        serde_json::json!({"command": "list-keys", "tenant": "a"}),
        serde_json::json!({"command": "revoke-key", "tenant": "a", "key_id": "k"}),
        serde_json::json!({"command": "set-retention", "tenant": "a", "days": 30}),
        serde_json::json!({"command": "backfill-projection"}),
        serde_json::json!({"command": "replay", "tenant": "a",
            "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}),
    ];
    for json in commands {
        let operation: Operation = serde_json::from_value(json.clone()).expect("a command");
        assert_eq!(operation.command(), json["command"], "{json}");
    }
}
