//! The operator commands of `cjaas-local`, on a stopped store.

use std::process::Command;

fn cli(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cjaas-local"))
        .env("CJAAS_DATA_DIR", dir)
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn operators_create_tenants_and_keys_whose_secrets_show_once() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, _) = cli(dir.path(), &["create-tenant", "acme"]);
    assert!(ok);
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(created["token"].as_str().unwrap().starts_with("cjk_acme_"));

    let (ok, _, err) = cli(dir.path(), &["create-tenant", "acme"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = cli(dir.path(), &["create-tenant", "Not Valid"]);
    assert!(!ok && err.contains("tenant"), "{err}");

    let (ok, out, _) = cli(
        dir.path(),
        &[
            "create-key",
            "--tenant",
            "acme",
            "--scopes",
            "events:write",
            "--label",
            "web",
        ],
    );
    assert!(ok);
    let key: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (ok, out, _) = cli(dir.path(), &["list-keys", "--tenant", "acme"]);
    assert!(ok && out.contains(key["id"].as_str().unwrap()));
    assert!(!out.contains("cjk_"), "listing never shows secrets");
    let (ok, out, _) = cli(
        dir.path(),
        &[
            "revoke-key",
            "--tenant",
            "acme",
            key["id"].as_str().unwrap(),
        ],
    );
    assert!(ok && out.contains("revoked_at"));
    let (ok, _, err) = cli(
        dir.path(),
        &["create-key", "--tenant", "acme", "--scopes", "root"],
    );
    assert!(!ok && err.contains("unknown scope"), "{err}");
}

#[test]
fn new_signing_keys_parse_as_a_keyset() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, _) = cli(dir.path(), &["new-signing-key", "--kid", "k2026-11"]);
    assert!(ok);
    let keys = cjaas_core::auth::SigningKeys::parse(out.trim()).expect("a valid keyset");
    assert!(format!("{keys:?}").contains("k2026-11"));
    assert!(
        !dir.path().join("cjaas.redb").exists(),
        "no store is touched"
    );
}

#[test]
fn the_projection_backfill_gives_old_entries_theirs_once() {
    use cjaas_core::ports::TapeStore;
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let tenant = cjaas_core::ids::TenantId::parse("acme").unwrap();
    let person = cjaas_core::ids::PersonId::parse("alice").unwrap();
    let entries: Vec<_> = (0..3)
        .map(|n| {
            let time = chrono::Utc::now() - chrono::Duration::minutes(n);
            cjaas_core::tape::TapeEntry {
                tenant: tenant.clone(),
                person: person.clone(),
                time,
                received_at: time,
                ty: "page.viewed".into(),
                source: "/web".into(),
                id: format!("e{n}"),
                expires_at: None,
                event: serde_json::json!({"specversion": "1.0", "id": format!("e{n}"),
                    "source": "/web", "type": "page.viewed", "person": "alice"})
                .to_string(),
            }
        })
        .collect();
    runtime.block_on(async {
        let store = cjaas_local::EmbeddedStore::open(dir.path()).unwrap();
        store.append_batch(&entries).await;
        // As the previous version left the store: entries without a projection.
        store.drop_steps_for_migration_test().await.unwrap();
    });
    let (ok, out, err) = cli(dir.path(), &["backfill-projection"]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["projections_written"], 3);
    let (ok, out, _) = cli(dir.path(), &["backfill-projection"]);
    assert!(ok);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["projections_written"], 0, "idempotent");
    runtime.block_on(async {
        let store = cjaas_local::EmbeddedStore::open(dir.path()).unwrap();
        let page = store.steps(&tenant, &person, None, None).await.unwrap();
        let sources: Vec<_> = page.steps.iter().map(|s| s.source.as_str()).collect();
        assert_eq!(sources, ["/web"; 3]);
    });
}

#[test]
fn the_store_cache_size_is_checked_and_used() {
    let dir = tempfile::tempdir().unwrap();
    for refused in ["0", "65537", "lots"] {
        let args = ["--cache-mib", refused, "list-keys", "--tenant", "acme"];
        let (ok, _, err) = cli(dir.path(), &args);
        assert!(!ok && err.contains("--cache-mib"), "{refused}: {err}");
    }
    assert!(
        !dir.path().join("cjaas.redb").exists(),
        "refused before the store opens"
    );
    let (ok, out, err) = cli(dir.path(), &["--cache-mib", "1", "create-tenant", "acme"]);
    assert!(ok, "{err}");
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    let args = ["--cache-mib", "65536", "list-keys", "--tenant", "acme"];
    let (ok, out, err) = cli(dir.path(), &args);
    assert!(
        ok && out.contains(created["id"].as_str().unwrap()),
        "{out} {err}"
    );
}
