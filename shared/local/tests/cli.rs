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
