//! Settings, read once at start-up. A missing variable fails fast, by name.

use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use cjaas_core::auth::SigningKeys;
use cjaas_core::target::TargetPolicy;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {0} is invalid: {1}")]
    Invalid(&'static str, String),
}

/// A required environment variable.
pub fn required(name: &'static str) -> Result<String, SettingsError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(SettingsError::Missing(name))
}

/// How long erasure tombstones last: the stream's retention
/// (`STREAM_RETENTION_HOURS`, 24 when unset) and a day more, so a record the stream
/// still holds never outlives its tombstone.
pub fn tombstone_ttl() -> Result<chrono::Duration, SettingsError> {
    const NAME: &str = "STREAM_RETENTION_HOURS";
    let hours = match std::env::var(NAME).ok().filter(|v| !v.is_empty()) {
        None => 24,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|h| (24..=8760).contains(h))
            .ok_or_else(|| {
                SettingsError::Invalid(NAME, format!("{raw:?}: hours from 24 to 8760"))
            })?,
    };
    Ok(chrono::Duration::hours(hours + 24))
}

/// The token and stamp signing keyset, from `CJAAS_SIGNING_KEYS`.
pub fn signing_keys() -> Result<SigningKeys, SettingsError> {
    const NAME: &str = "CJAAS_SIGNING_KEYS";
    SigningKeys::parse(&required(NAME)?).map_err(|e| SettingsError::Invalid(NAME, e.to_string()))
}

/// Which webhook and enrichment targets rules may name and actions may call: public
/// addresses only, unless `CJAAS_ALLOW_PRIVATE_TARGETS` is `1` or `true` (for test
/// receivers; never set in the template). The Lambda runtime API
/// (`AWS_LAMBDA_RUNTIME_API`) is refused either way.
pub fn target_policy() -> Result<TargetPolicy, SettingsError> {
    const NAME: &str = "CJAAS_ALLOW_PRIVATE_TARGETS";
    let raw = std::env::var(NAME).unwrap_or_default();
    let policy = match raw.to_ascii_lowercase().as_str() {
        "" | "0" | "false" => TargetPolicy::public_only(),
        "1" | "true" => TargetPolicy::allowing_private(),
        _ => return Err(SettingsError::Invalid(NAME, "use 1/true or 0/false".into())),
    };
    Ok(match std::env::var("AWS_LAMBDA_RUNTIME_API") {
        Ok(runtime_api) if !runtime_api.is_empty() => policy.deny_host(&runtime_api),
        _ => policy,
    })
}

/// The SDK configuration: region and credentials from the environment, and
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` overrides for emulators.
///
/// Credentials and region come from the environment variables only
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`; `AWS_REGION`,
/// then `AWS_DEFAULT_REGION`), which Lambda always sets: the SDK's default chains
/// (profile files, SSO, web identity through STS, ECS, IMDS) are never reached, so
/// they are not linked into the binaries (DECISIONS.md, "Lambda packages").
///
/// The HTTP client is reqwest (`sdk_http`), on rustls' ring provider with the bundled
/// roots, as the webhooks: one HTTP stack and one crypto library per Lambda binary, no
/// HTTP/2, and proxies from the environment as before.
pub async fn sdk_config() -> SdkConfig {
    let https = SharedHttpClient::new(crate::sdk_http::ReqwestHttpClient::default());
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .region(EnvironmentVariableRegionProvider::new())
        .load()
        .await
}

/// An S3 client; path-style addressing when an endpoint override points at an emulator.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let emulated = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(emulated)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Every resource a function may be given, read once at start-up. Each function is
/// given only the resources it uses (see `infra/template.yaml`): a missing one fails
/// when the function's wiring asks for it, naming its variable; a present but
/// invalid one fails here.
#[derive(Clone)]
pub struct Settings {
    /// `TAPE_TABLE`
    pub tape_table: Option<String>,
    /// `CONFIG_TABLE`: tenants, keys and every document.
    pub config_table: Option<String>,
    /// `EVENT_STREAM`: the Kinesis stream.
    pub event_stream: Option<String>,
    /// `DEAD_LETTER_BUCKET`
    pub dead_letter_bucket: Option<String>,
    /// `ARCHIVE_BUCKET`
    pub archive_bucket: Option<String>,
    /// `EVENT_BUS`: the CJaaS EventBridge bus.
    pub event_bus: Option<String>,
    /// `CJAAS_SIGNING_KEYS`
    pub signing_keys: Option<SigningKeys>,
    /// `CJAAS_ALLOW_PRIVATE_TARGETS` (see [`target_policy`]).
    pub targets: TargetPolicy,
    /// `STREAM_RETENTION_HOURS` (see [`tombstone_ttl`]).
    pub tombstone_ttl: chrono::Duration,
}

fn optional(name: &'static str) -> Option<String> {
    required(name).ok()
}

fn need<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, SettingsError> {
    value.as_deref().ok_or(SettingsError::Missing(name))
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingsError> {
        Ok(Self {
            tape_table: optional("TAPE_TABLE"),
            config_table: optional("CONFIG_TABLE"),
            event_stream: optional("EVENT_STREAM"),
            dead_letter_bucket: optional("DEAD_LETTER_BUCKET"),
            archive_bucket: optional("ARCHIVE_BUCKET"),
            event_bus: optional("EVENT_BUS"),
            signing_keys: match optional("CJAAS_SIGNING_KEYS") {
                Some(_) => Some(signing_keys()?),
                None => None,
            },
            targets: target_policy()?,
            tombstone_ttl: tombstone_ttl()?,
        })
    }

    pub fn tape_table(&self) -> Result<&str, SettingsError> {
        need(&self.tape_table, "TAPE_TABLE")
    }
    pub fn config_table(&self) -> Result<&str, SettingsError> {
        need(&self.config_table, "CONFIG_TABLE")
    }
    pub fn event_stream(&self) -> Result<&str, SettingsError> {
        need(&self.event_stream, "EVENT_STREAM")
    }
    pub fn dead_letter_bucket(&self) -> Result<&str, SettingsError> {
        need(&self.dead_letter_bucket, "DEAD_LETTER_BUCKET")
    }
    pub fn archive_bucket(&self) -> Result<&str, SettingsError> {
        need(&self.archive_bucket, "ARCHIVE_BUCKET")
    }
    pub fn event_bus(&self) -> Result<&str, SettingsError> {
        need(&self.event_bus, "EVENT_BUS")
    }
    pub fn signing_keys(&self) -> Result<SigningKeys, SettingsError> {
        self.signing_keys
            .clone()
            .ok_or(SettingsError::Missing("CJAAS_SIGNING_KEYS"))
    }
}
