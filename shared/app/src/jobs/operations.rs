//! The operator commands: the `tenant-admin` function's payloads and `cjaas-local`'s
//! subcommands, run by one function.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

use cjaas_core::auth::Scope;
use cjaas_core::ids::TenantId;

use crate::admin::{Admin, KeyRequest};
use crate::archive::Replayer;
use crate::failure::{ErrorKind, Failure};

/// One operator command (JSON: `{"command": "create-tenant", ...}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Operation {
    CreateTenant {
        tenant: String,
    },
    CreateKey {
        tenant: String,
        scopes: Vec<Scope>,
        #[serde(default)]
        label: String,
        #[serde(default)]
        expires_in_days: Option<i64>,
    },
    ListKeys {
        tenant: String,
    },
    RevokeKey {
        tenant: String,
        key_id: String,
    },
    /// Days of events (by event time) the tenant keeps; `null` keeps them forever.
    SetRetention {
        tenant: String,
        days: Option<u32>,
    },
    /// Gives the Tape entries written before the lean projection existed theirs,
    /// for about `budget_seconds` (absent: until done); run again while the answer
    /// says `"complete": false`. Run by [`super::Jobs::operate`] (it needs the Tape).
    BackfillProjection {
        #[serde(default)]
        budget_seconds: Option<u64>,
    },
    /// Puts the tenant's archived events of `[from, to)` back through ingest.
    Replay {
        tenant: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

impl Operation {
    /// The command's name, as its JSON gives it.
    pub fn command(&self) -> &'static str {
        match self {
            Operation::CreateTenant { .. } => "create-tenant",
            Operation::CreateKey { .. } => "create-key",
            Operation::ListKeys { .. } => "list-keys",
            Operation::RevokeKey { .. } => "revoke-key",
            Operation::SetRetention { .. } => "set-retention",
            Operation::BackfillProjection { .. } => "backfill-projection",
            Operation::Replay { .. } => "replay",
        }
    }
}

/// What the operator commands act on.
pub struct Operations {
    pub admin: Arc<Admin>,
    pub replayer: Arc<Replayer>,
}

/// A failed operator command: a stable code and a message.
pub type OperationFailed = Failure;

fn tenant(raw: &str) -> Result<TenantId, OperationFailed> {
    TenantId::parse(raw).map_err(|e| Failure {
        kind: ErrorKind::BadRequest,
        code: "invalid_tenant",
        detail: format!("tenant {raw:?} {e}"),
    })
}

fn to_json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("command results serialize")
}

impl Operations {
    /// Runs one command; the result as JSON (a key, `{"keys": [...]}`, a tenant
    /// record, a replay report).
    pub async fn run(&self, operation: Operation) -> Result<Value, OperationFailed> {
        let admin = &self.admin;
        Ok(match operation {
            Operation::CreateTenant { tenant: t } => {
                to_json(admin.create_tenant(&tenant(&t)?).await?)
            }
            Operation::CreateKey {
                tenant: t,
                scopes,
                label,
                expires_in_days,
            } => {
                let request = KeyRequest {
                    scopes,
                    label,
                    expires_in_days,
                    ..KeyRequest::default()
                };
                to_json(admin.create_key(&tenant(&t)?, request).await?)
            }
            Operation::ListKeys { tenant: t } => {
                json!({ "keys": admin.list_keys(&tenant(&t)?).await? })
            }
            Operation::RevokeKey { tenant: t, key_id } => {
                to_json(admin.revoke_key(&tenant(&t)?, &key_id).await?)
            }
            Operation::SetRetention { tenant: t, days } => {
                to_json(admin.set_retention(&tenant(&t)?, days).await?)
            }
            Operation::Replay {
                tenant: t,
                from,
                to,
            } => to_json(self.replayer.replay(&tenant(&t)?, from, to).await?),
            Operation::BackfillProjection { .. } => {
                return Err(Failure {
                    kind: ErrorKind::Internal,
                    code: "internal",
                    detail: "the projection backfill runs through Jobs::operate".into(),
                })
            }
        })
    }
}
