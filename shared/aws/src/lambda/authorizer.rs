//! The Lambda authorizer: API keys and signed tokens, verified by the same
//! [`Authenticator`] as the local server, handed to API Gateway as a context.

use aws_lambda_events::event::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use cjaas_app::auth::{AuthFailure, Authenticator};
use cjaas_app::http::repeated_authorization;
use cjaas_core::auth::{Principal, Scope};

/// The authorizer's denial for a repeated `Authorization` header.
pub(crate) const DUPLICATE_HEADER: &str = "duplicate_header";

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
