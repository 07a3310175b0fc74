//! What every Lambda binary shares: JSON tracing, the authorizer-context principal,
//! and the handlers. A handler only translates its payload into a call of
//! `cjaas_app::jobs` (a `Trigger`, or a stream batch) and the result back.

mod authorizer;
mod events;
mod failure;
mod gateway;
mod kinesis;
mod operations;
mod orchestration;

pub use authorizer::handle_authorizer;
use authorizer::DUPLICATE_HEADER;
pub use cjaas_app::jobs::Family;
pub use events::{handle_event, trigger_of, BACKFILL_REQUESTED, OPERATOR_SOURCE};
pub use failure::CommandFailed;
pub use gateway::{gateway_response, respond, serve_router};
pub use kinesis::{handle_archive, handle_kinesis};
pub use operations::{handle_tenant_command, TenantCommand};
pub use orchestration::{handle_orchestration, OrchestratorFunction};

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use lambda_http::request::RequestContext;
use serde_json::Value;

use cjaas_app::http::{with_edge_headers, with_problem_fallback, Problem};
use cjaas_core::auth::{AuthError, Principal, Scope};
use cjaas_core::browser::BrowserBinding;
use cjaas_core::ids::TenantId;

/// JSON logs for CloudWatch, level from `RUST_LOG` (default `info`): a default level
/// and `target=level` pairs (`Targets`, no span or field filters: those need
/// tracing-subscriber's regex-based `EnvFilter`, which would add a regex engine to
/// every binary). An unset, empty or invalid `RUST_LOG` logs at `info`.
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_ansi(false)
        .without_time() // CloudWatch stamps each line
        .with_target(false)
        .finish()
        .with(log_filter(std::env::var("RUST_LOG").ok().as_deref()))
        .init();
}

fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    rust_log
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// Serves an API router behind API Gateway: the principal comes from the authorizer.
pub async fn serve_http(router: Router) -> Result<(), lambda_runtime::Error> {
    serve_router(behind_gateway(router)).await
}

/// Serves a router whose routes add their own principal layer where they need one
/// (the `ingest` function: some of its routes have no authorizer).
pub async fn serve_public(router: Router) -> Result<(), lambda_runtime::Error> {
    serve_router(with_edge_headers(with_problem_fallback(router))).await
}

/// The `console` function's routes: the browser's static files (the console, the web
/// components and the API reference), which take no credential and no setting.
pub fn console_router() -> Router {
    cjaas_app::http::asset_routes()
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

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn rust_log_sets_a_default_and_per_target_levels() {
        let filter = log_filter(Some("cjaas_app=debug,warn"));
        assert_eq!(filter.default_level(), Some(LevelFilter::WARN));
        assert!(filter.would_enable("cjaas_app::jobs", &Level::DEBUG));
        assert!(!filter.would_enable("aws_smithy_runtime", &Level::INFO));
    }

    #[test]
    fn an_unset_empty_or_invalid_rust_log_logs_at_info() {
        for rust_log in [None, Some(""), Some("  "), Some("cjaas_app=loud")] {
            let filter = log_filter(rust_log);
            assert_eq!(
                filter.default_level(),
                Some(LevelFilter::INFO),
                "{rust_log:?}"
            );
            assert!(
                !filter.would_enable("cjaas_app", &Level::DEBUG),
                "{rust_log:?}"
            );
        }
    }
}
