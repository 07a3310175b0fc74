//! Each function's handler, built by `cjaas_app::wiring` from the AWS adapters. The
//! Lambda binaries call [`from_env`]; tests call [`new`] with their own [`Settings`].
//! Only what is AWS's own is built here: the live tail on Kinesis, and what the
//! handlers take besides the app's services.

use aws_config::SdkConfig;
use axum::Router;
use std::sync::Arc;

use cjaas_app::http::{live_routes, require_bearer, with_edge_headers, with_problem_fallback};
use cjaas_app::tombstones::Tombstones;
use cjaas_app::wiring::{Adapters, Wiring};

pub use crate::adapters::AwsAdapters;
use crate::lambda::OrchestratorFunction;
use crate::settings::{sdk_config, Settings, SettingsError};
use crate::KinesisTail;

pub type AwsWiring = Wiring<AwsAdapters>;

pub fn new(sdk: &SdkConfig, settings: Settings) -> AwsWiring {
    Wiring(AwsAdapters {
        sdk: sdk.clone(),
        settings,
    })
}

/// The SDK configuration and the settings, from the environment.
pub async fn from_env() -> Result<AwsWiring, SettingsError> {
    Ok(new(&sdk_config().await, Settings::from_env()?))
}

/// The `orchestrator` function's stream side: rules on each batch.
pub fn orchestrator_function(wiring: &AwsWiring) -> Result<OrchestratorFunction, SettingsError> {
    Ok(OrchestratorFunction {
        decoder: wiring.tape_decoder()?,
        tape: wiring.0.tape()?,
        orchestrator: Arc::new(wiring.orchestrator()?),
        audiences: Arc::new(wiring.membership()?),
    })
}

/// The `stream` function (a function URL with response streaming, no API Gateway
/// authorizer): the live routes behind the same token check as the local server.
pub fn stream_router(
    wiring: &AwsWiring,
    poll: std::time::Duration,
) -> Result<Router, SettingsError> {
    let adapters = &wiring.0;
    let tail = KinesisTail::new(
        adapters.kinesis_client(),
        adapters.settings.event_stream()?.to_owned(),
        Arc::new(wiring.tape_decoder()?),
        Tombstones::new(adapters.docs()?),
        poll,
    );
    let auth = Arc::new(wiring.authenticator()?);
    Ok(with_edge_headers(with_problem_fallback(require_bearer(
        live_routes(Arc::new(tail)),
        auth,
    ))))
}
