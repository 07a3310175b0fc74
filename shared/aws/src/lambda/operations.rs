//! The `tenant-admin` function: operator commands, invoked directly
//! (`aws lambda invoke`), never through the public API.

use lambda_runtime::LambdaEvent;
use serde_json::Value;

use cjaas_app::jobs::{Jobs, Operation};
use cjaas_app::wiring::Adapters;

use super::CommandFailed;

/// The payload is an [`Operation`] (`{"command": "create-tenant", ...}`).
pub type TenantCommand = Operation;

pub async fn handle_tenant_command<A: Adapters>(
    jobs: &Jobs<A>,
    event: LambdaEvent<Operation>,
) -> Result<Value, CommandFailed> {
    Ok(jobs.operate(event.payload).await?)
}
