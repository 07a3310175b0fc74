//! What every Lambda binary shares: JSON tracing, the authorizer-context principal,
//! and the event handlers (Kinesis batch, authorizer, operator commands).

use aws_lambda_events::event::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use lambda_http::request::RequestContext;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Deserialize;
use serde_json::{json, Value};

use cjaas_app::actions::ActionRunner;
use cjaas_app::admin::{Admin, AdminError, KeyRequest};
use cjaas_app::analytics::{Analytics, BUS_SOURCE, RUN_REQUESTED};
use cjaas_app::archive::{ArchiveError, ArchiveRetention, Archiver, Replayer};
use cjaas_app::auth::{AuthFailure, Authenticator};
use cjaas_app::erasure::{Erasures, ERASURE_REQUESTED};
use cjaas_app::forwarding::Forwarding;
use cjaas_app::http::{repeated_authorization, with_edge_headers, with_problem_fallback, Problem};
use cjaas_app::orchestration::{ActionEvent, Orchestrator, ACTION_SOURCE, ACTION_TRIGGERED};
use cjaas_app::writer::{InputRecord, TapeWriter};
use cjaas_core::auth::{AuthError, Principal, Scope};
use cjaas_core::browser::BrowserBinding;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::ConfigStore;

/// JSON logs for CloudWatch, level from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .with_ansi(false)
        .without_time() // CloudWatch stamps each line
        .with_target(false)
        .init();
}

/// Serves an API router behind API Gateway: the principal comes from the authorizer.
pub async fn serve_http(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(behind_gateway(router)).await
}

/// Serves a router whose routes add their own principal layer where they need one
/// (the `ingest` function: some of its routes have no authorizer).
pub async fn serve_public(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(with_edge_headers(with_problem_fallback(router))).await
}

/// Puts the authorizer's verdict into the request as a [`Principal`], or answers with
/// the problem it found. The authorizer lets every request through with either a
/// principal or a denial code, so a bad credential gets a problem+json body instead
/// of API Gateway's bare 403.
pub fn behind_gateway(router: Router) -> Router {
    with_edge_headers(with_authorizer_principal(with_problem_fallback(router)))
}

/// [`behind_gateway`]'s principal layer alone, for routes that are merged with routes
/// without an authorizer (the browser routes of the `ingest` function).
pub fn with_authorizer_principal(router: Router) -> Router {
    router.layer(middleware::from_fn(principal_from_authorizer))
}

async fn principal_from_authorizer(mut request: Request, next: Next) -> Response {
    let fields = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.authorizer.as_ref().map(|a| a.fields.clone())
        }
        _ => None,
    };
    match fields.as_ref().map(verdict_from_context) {
        Some(Ok(principal)) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Some(Err(problem)) => problem.into_response(),
        None => Problem::from(AuthError::Missing).into_response(),
    }
}

fn verdict_from_context(
    fields: &std::collections::HashMap<String, Value>,
) -> Result<Principal, Problem> {
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    if let Some(code) = text("denied") {
        let error = match code {
            "missing_credential" => AuthError::Missing,
            "malformed_credential" => AuthError::Malformed,
            "expired_credential" => AuthError::Expired,
            DUPLICATE_HEADER => return Err(Problem::duplicate_header("authorization")),
            "store_unavailable" => {
                return Err(Problem::from(cjaas_core::ports::StoreError::Transient(
                    code.into(),
                )))
            }
            _ => AuthError::Invalid,
        };
        return Err(error.into());
    }
    let tenant = text("tenant").and_then(|t| TenantId::parse(t).ok());
    let scopes = text("scopes").and_then(Scope::parse_list);
    // A publishable key's binding: space-separated origins and an optional limit.
    let browser = text("origins").map(|origins| BrowserBinding {
        allowed_origins: origins.split(' ').map(str::to_owned).collect(),
        rate_limit_per_minute: text("rate_limit").and_then(|r| r.parse().ok()),
    });
    match (tenant, scopes) {
        (Some(tenant), Some(scopes)) => Ok(Principal {
            tenant,
            scopes,
            credential: text("credential").unwrap_or_default().to_owned(),
            browser,
        }),
        _ => Err(AuthError::Invalid.into()),
    }
}

/// The authorizer's denial for a repeated `Authorization` header.
const DUPLICATE_HEADER: &str = "duplicate_header";

/// The Lambda authorizer: verifies the bearer token and hands API Gateway a context.
pub async fn handle_authorizer(
    auth: &Authenticator,
    event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>,
) -> Result<ApiGatewayV2CustomAuthorizerSimpleResponse, lambda_runtime::Error> {
    let header = event
        .payload
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if repeated_authorization(&event.payload.headers) {
        tracing::info!(code = DUPLICATE_HEADER, "credential refused");
        let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
        response.is_authorized = true;
        response.context = json!({ "denied": DUPLICATE_HEADER });
        return Ok(response);
    }
    let context = match auth.authenticate_header(header).await {
        Ok(principal) => authorizer_context(&principal),
        Err(AuthFailure::Denied(e)) => {
            tracing::info!(code = e.code(), "credential refused");
            json!({ "denied": e.code() })
        }
        // Not a verdict: API Gateway would cache it. An error is not cached; the
        // client gets a 500 and retries.
        Err(AuthFailure::Store(e)) => {
            tracing::error!(error = %e, "config store unavailable");
            return Err(e.into());
        }
    };
    let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
    response.is_authorized = true;
    response.context = context;
    Ok(response)
}

/// The principal as the authorizer's context (strings only).
fn authorizer_context(principal: &Principal) -> Value {
    let mut context = json!({
        "tenant": principal.tenant,
        "scopes": Scope::join(&principal.scopes),
        "credential": principal.credential,
    });
    if let Some(binding) = &principal.browser {
        context["origins"] = json!(binding.allowed_origins.join(" "));
        if let Some(limit) = binding.rate_limit_per_minute {
            context["rate_limit"] = json!(limit.to_string());
        }
    }
    context
}

/// The Tape writer on a Kinesis batch: failed records go back by sequence number.
pub async fn handle_kinesis(
    writer: &TapeWriter,
    event: LambdaEvent<KinesisEvent>,
) -> Result<KinesisEventResponse, lambda_runtime::Error> {
    let records = input_records(&event.payload);
    let report = writer.write_batch(&records).await;
    let mut response = KinesisEventResponse::default();
    response.batch_item_failures = report
        .retry_indices()
        .map(|i| {
            let mut failure = KinesisBatchItemFailure::default();
            failure.item_identifier =
                Some(event.payload.records[i].kinesis.sequence_number.clone());
            failure
        })
        .collect();
    Ok(response)
}

/// Operator commands for the `tenant-admin` function, invoked directly
/// (`aws lambda invoke`), never through the public API.
#[derive(Debug, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TenantCommand {
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
    /// Puts the tenant's archived events of `[from, to)` back through ingest.
    Replay {
        tenant: String,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    },
}

/// What the operator commands act on.
pub struct Operations {
    pub admin: Admin,
    pub replayer: Replayer,
}

impl From<ArchiveError> for CommandFailed {
    fn from(e: ArchiveError) -> Self {
        let code = match &e {
            ArchiveError::Invalid(_) => "invalid_request",
            ArchiveError::Retry(_) | ArchiveError::Store(_) => "store_unavailable",
            ArchiveError::Stream(_) => "stream_unavailable",
        };
        CommandFailed {
            code,
            detail: e.to_string(),
        }
    }
}

/// A failed operator command, reported as the Lambda error type and message.
#[derive(Debug)]
pub struct CommandFailed {
    pub code: &'static str,
    pub detail: String,
}

impl From<CommandFailed> for Diagnostic {
    fn from(e: CommandFailed) -> Self {
        Diagnostic {
            error_type: e.code.to_owned(),
            error_message: e.detail,
        }
    }
}

impl From<AdminError> for CommandFailed {
    fn from(e: AdminError) -> Self {
        CommandFailed {
            code: e.code(),
            detail: e.to_string(),
        }
    }
}

fn tenant(raw: &str) -> Result<TenantId, CommandFailed> {
    TenantId::parse(raw).map_err(|e| CommandFailed {
        code: "invalid_tenant",
        detail: format!("tenant {raw:?} {e}"),
    })
}

pub async fn handle_tenant_command(
    operations: &Operations,
    event: LambdaEvent<TenantCommand>,
) -> Result<Value, CommandFailed> {
    let admin = &operations.admin;
    let view = |v| serde_json::to_value(v).expect("a key serializes");
    Ok(match event.payload {
        TenantCommand::SetRetention { tenant: t, days } => {
            serde_json::to_value(admin.set_retention(&tenant(&t)?, days).await?)
                .expect("a tenant serializes")
        }
        TenantCommand::Replay {
            tenant: t,
            from,
            to,
        } => {
            let report = operations.replayer.replay(&tenant(&t)?, from, to).await?;
            serde_json::to_value(report).expect("a report serializes")
        }
        TenantCommand::CreateTenant { tenant: t } => view(admin.create_tenant(&tenant(&t)?).await?),
        TenantCommand::CreateKey {
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
            view(admin.create_key(&tenant(&t)?, request).await?)
        }
        TenantCommand::ListKeys { tenant: t } => {
            json!({ "keys": admin.list_keys(&tenant(&t)?).await? })
        }
        TenantCommand::RevokeKey { tenant: t, key_id } => {
            view(admin.revoke_key(&tenant(&t)?, &key_id).await?)
        }
    })
}

/// The `analytics` function: an EventBridge schedule runs every tenant; a tenant's
/// on-demand request (`cjaas.analytics` / `AnalyticsRunRequested` on the CJaaS bus)
/// runs that tenant. A failed tenant does not stop the others; the invocation fails
/// at the end so that EventBridge retries it.
pub async fn handle_analytics(
    analytics: &Analytics,
    tenants: &dyn ConfigStore,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, CommandFailed> {
    let payload = event.payload;
    let now = payload.time.unwrap_or_else(chrono::Utc::now);
    let targets = match (payload.source.as_str(), payload.detail_type.as_str()) {
        ("aws.events", "Scheduled Event") => {
            tenants.list_tenants().await.map_err(|e| CommandFailed {
                code: "store_unavailable",
                detail: e.to_string(),
            })?
        }
        (BUS_SOURCE, RUN_REQUESTED) => {
            let raw = payload
                .detail
                .get("tenant")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let tenant = tenant(raw)?;
            if tenants.get_tenant(&tenant).await.ok().flatten().is_none() {
                return Err(CommandFailed {
                    code: "unknown_tenant",
                    detail: format!("no tenant {tenant}"),
                });
            }
            vec![tenant]
        }
        (source, detail_type) => {
            return Err(CommandFailed {
                code: "unexpected_event",
                detail: format!("the analytics function does not handle {source} / {detail_type}"),
            })
        }
    };
    let mut runs = Vec::new();
    let mut failed = Vec::new();
    for tenant in targets {
        match analytics.run(&tenant, now).await {
            Ok(summary) => runs.push(json!({ "tenant": tenant, "summary": summary })),
            Err(e) => {
                tracing::error!(tenant = %tenant, error = %e, "analytics run failed");
                failed.push(tenant.to_string());
            }
        }
    }
    if !failed.is_empty() {
        return Err(CommandFailed {
            code: "analytics_failed",
            detail: format!("analytics failed for {}", failed.join(", ")),
        });
    }
    Ok(json!({ "runs": runs }))
}

/// The `archiver` function on a Kinesis batch. The batch is archived whole or not at
/// all: on failure it is handed back from its first record. Objects are named after
/// the batch's shard and first sequence number, which no other batch has, so the
/// retry (which starts at the same record) rewrites the same objects.
pub async fn handle_archive(
    archiver: &Archiver,
    event: LambdaEvent<KinesisEvent>,
) -> Result<KinesisEventResponse, lambda_runtime::Error> {
    let records = input_records(&event.payload);
    let mut response = KinesisEventResponse::default();
    let Some(first) = event.payload.records.first() else {
        return Ok(response);
    };
    // `eventID` is `{shard}:{sequence}`; sequence numbers are never reused on a shard.
    let shard = first
        .event_id
        .as_deref()
        .and_then(|id| id.split(':').next())
        .unwrap_or("shard");
    let batch = cjaas_core::archive::batch_of(shard, &first.kinesis.sequence_number);
    if let Err(e) = archiver.archive_batch(&batch, &records).await {
        tracing::warn!(batch, error = %e, "archive batch failed; it will be retried");
        let mut failure = KinesisBatchItemFailure::default();
        failure.item_identifier = Some(first.kinesis.sequence_number.clone());
        response.batch_item_failures = vec![failure];
    }
    Ok(response)
}

fn input_records(event: &KinesisEvent) -> Vec<InputRecord> {
    event
        .records
        .iter()
        .map(|r| InputRecord {
            origin: r
                .event_id
                .clone()
                .unwrap_or_else(|| r.kinesis.sequence_number.clone()),
            data: r.kinesis.data.0.clone(),
            arrived_at: r.kinesis.approximate_arrival_timestamp.0,
        })
        .collect()
}

/// The `maintenance` function: an erasure request from the CJaaS bus runs that job;
/// the daily schedule runs every tenant's pending erasures, applies retention to the
/// archive and retries failed forwarding deliveries.
pub async fn handle_maintenance(
    erasures: &Erasures,
    retention: &ArchiveRetention,
    forwarding: &Forwarding,
    tenants: &dyn ConfigStore,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, CommandFailed> {
    let payload = event.payload;
    let failed = |e: &dyn std::fmt::Display| CommandFailed {
        code: "store_unavailable",
        detail: e.to_string(),
    };
    match (payload.source.as_str(), payload.detail_type.as_str()) {
        (cjaas_app::erasure::BUS_SOURCE, ERASURE_REQUESTED) => {
            let raw = payload
                .detail
                .get("tenant")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let job = payload
                .detail
                .get("job")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let done = erasures
                .run(&tenant(raw)?, job)
                .await
                .map_err(|e| failed(&e))?;
            Ok(json!({ "erasure": done }))
        }
        ("aws.events", "Scheduled Event") => {
            let now = payload.time.unwrap_or_else(chrono::Utc::now);
            let (mut swept, mut erased, mut forwarded) = (0, 0, 0);
            for tenant in tenants.list_tenants().await.map_err(|e| failed(&e))? {
                for job in erasures.pending(&tenant).await.map_err(|e| failed(&e))? {
                    erasures.run(&tenant, &job).await.map_err(|e| failed(&e))?;
                    erased += 1;
                }
                swept += retention
                    .sweep(&tenant, now)
                    .await
                    .map_err(|e| failed(&e))?
                    .objects_deleted;
                forwarded += forwarding
                    .retry_pending(&tenant)
                    .await
                    .map_err(|e| failed(&e))?;
            }
            Ok(
                json!({ "erasures_run": erased, "archive_objects_deleted": swept, "forwarding_retries_delivered": forwarded }),
            )
        }
        (source, detail_type) => Err(CommandFailed {
            code: "unexpected_event",
            detail: format!("the maintenance function does not handle {source} / {detail_type}"),
        }),
    }
}

/// The `orchestrator` function. On a Kinesis batch: evaluates the tenants' rules on
/// each event once it is on the Tape (a batch that runs ahead of the Tape writer is
/// handed back whole, and nothing fires twice). On its EventBridge schedule: runs the
/// absence timers that are due.
pub async fn handle_orchestration(
    writer: &TapeWriter,
    tape: &dyn cjaas_core::ports::TapeStore,
    orchestrator: &Orchestrator,
    tenants: &dyn ConfigStore,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let payload = event.payload;
    if payload.get("Records").is_none() {
        let schedule: EventBridgeEvent<Value> = serde_json::from_value(payload)?;
        let now = schedule.time.unwrap_or_else(chrono::Utc::now);
        let mut fired = 0;
        for tenant in tenants.list_tenants().await? {
            fired += orchestrator.run_due_timers(&tenant, now).await?.fired;
        }
        return Ok(json!({ "timers_fired": fired }));
    }
    let batch: KinesisEvent = serde_json::from_value(payload)?;
    let retry_all = |batch: &KinesisEvent| {
        let mut response = KinesisEventResponse::default();
        if let Some(first) = batch.records.first() {
            let mut failure = KinesisBatchItemFailure::default();
            failure.item_identifier = Some(first.kinesis.sequence_number.clone());
            response.batch_item_failures = vec![failure];
        }
        Ok(serde_json::to_value(response)?)
    };
    let entries = match writer.decode_batch(&input_records(&batch)).await {
        Ok(entries) => entries,
        Err(reason) => {
            tracing::warn!(%reason, "orchestration batch will be retried");
            return retry_all(&batch);
        }
    };
    // Evaluate what is on the Tape already; the rest waits for the Tape writer.
    let total = entries.len();
    let mut ready = Vec::with_capacity(total);
    for entry in entries {
        if !tape.holds(&entry).await? {
            break;
        }
        ready.push(entry);
    }
    let report = orchestrator.on_entries(&ready).await?;
    tracing::info!(
        evaluations = report.evaluations,
        fired = report.fired,
        "rules evaluated"
    );
    if ready.len() < total {
        return retry_all(&batch);
    }
    Ok(serde_json::to_value(KinesisEventResponse::default())?)
}

/// The `actions` function: carries out one action a rule fired (from the CJaaS bus).
/// An `Err` makes EventBridge retry; actions are idempotent by their action id.
pub async fn handle_action(
    runner: &ActionRunner,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, CommandFailed> {
    let payload = event.payload;
    if payload.source != ACTION_SOURCE || payload.detail_type != ACTION_TRIGGERED {
        return Err(CommandFailed {
            code: "unexpected_event",
            detail: format!(
                "the actions function does not handle {} / {}",
                payload.source, payload.detail_type
            ),
        });
    }
    let action: ActionEvent =
        serde_json::from_value(payload.detail).map_err(|e| CommandFailed {
            code: "invalid_action",
            detail: e.to_string(),
        })?;
    let outcome = runner.run(&action).await.map_err(|e| CommandFailed {
        code: "store_unavailable",
        detail: e.to_string(),
    })?;
    Ok(json!({ "action_id": action.action_id, "outcome": outcome }))
}
