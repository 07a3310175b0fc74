//! Tenants, API keys and signed tokens. Operators create tenants (CLI or the
//! `tenant-admin` function); a tenant's own admins manage its keys over HTTP.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use cjaas_core::auth::{
    ApiKeyRecord, NewApiKey, Principal, Scope, SigningKeys, TokenClaims, MAX_TOKEN_TTL,
};
use cjaas_core::browser::BrowserBinding;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{ConfigStore, StoreError, TenantRecord};

use crate::failure::{AppError, ErrorKind};

const MAX_LABEL_BYTES: usize = 200;
const MAX_KEY_DAYS: i64 = 3650;

/// Ten years.
pub const MAX_RETENTION_DAYS: u32 = 3653;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("tenant {0} already exists")]
    TenantExists(TenantId),
    #[error("tenant {0} does not exist")]
    UnknownTenant(TenantId),
    #[error("no key {0} in this tenant")]
    KeyNotFound(String),
    #[error("the caller does not hold the scope {0}, so cannot grant it")]
    ScopeNotHeld(Scope),
    #[error("this needs an API key: a short-lived token cannot mint credentials")]
    ApiKeyRequired,
    #[error("a publishable key cannot mint tokens: mint them with a secret key on your backend")]
    PublishableKey,
    #[error("{0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AdminError {
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::TenantExists(_) => "tenant_exists",
            AdminError::UnknownTenant(_) => "unknown_tenant",
            AdminError::KeyNotFound(_) => "key_not_found",
            AdminError::ScopeNotHeld(_) => "scope_not_held",
            AdminError::ApiKeyRequired => "api_key_required",
            AdminError::PublishableKey => "publishable_key",
            AdminError::InvalidRequest(_) => "invalid_request",
            AdminError::Store(_) => "store_unavailable",
        }
    }
}

impl AppError for AdminError {
    fn kind(&self) -> ErrorKind {
        match self {
            AdminError::TenantExists(_) => ErrorKind::Conflict,
            AdminError::UnknownTenant(_) | AdminError::KeyNotFound(_) => ErrorKind::NotFound,
            AdminError::ScopeNotHeld(_)
            | AdminError::ApiKeyRequired
            | AdminError::PublishableKey => ErrorKind::Forbidden,
            AdminError::InvalidRequest(_) => ErrorKind::Invalid,
            AdminError::Store(e) => e.kind(),
        }
    }
    fn code(&self) -> &'static str {
        AdminError::code(self)
    }
    fn wraps(&self) -> Option<&dyn AppError> {
        match self {
            AdminError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// A request for a new API key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// Required for a secret key; a publishable key holds `events:write` only.
    #[serde(default)]
    pub scopes: Vec<Scope>,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub expires_in_days: Option<i64>,
    #[serde(default)]
    pub kind: KeyKind,
    /// Publishable keys only: the origins browsers may use the key from.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Publishable keys only: requests per minute.
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
}

/// A secret key (servers) or a publishable key (web pages).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    #[default]
    Secret,
    Publishable,
}

/// A request for a short-lived signed token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub scopes: Vec<Scope>,
    #[serde(default = "default_token_ttl")]
    pub ttl_seconds: i64,
}

fn default_token_ttl() -> i64 {
    900
}

/// A key as shown to its owner: the secret token appears only when the key is made.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub id: String,
    pub tenant: String,
    pub kind: KeyKind,
    pub scopes: Vec<Scope>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_minute: Option<u32>,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<&ApiKeyRecord> for KeyView {
    fn from(r: &ApiKeyRecord) -> Self {
        Self {
            id: r.key_id.clone(),
            tenant: r.tenant.to_string(),
            kind: match r.publishable {
                Some(_) => KeyKind::Publishable,
                None => KeyKind::Secret,
            },
            scopes: r.scopes.clone(),
            allowed_origins: r.publishable.as_ref().map(|b| b.allowed_origins.clone()),
            rate_limit_per_minute: r.publishable.as_ref().and_then(|b| b.rate_limit_per_minute),
            label: r.label.clone(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            token: None,
        }
    }
}

impl From<NewApiKey> for KeyView {
    fn from(k: NewApiKey) -> Self {
        Self {
            token: Some(k.token),
            ..KeyView::from(&k.record)
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    pub token: String,
    pub token_type: &'static str,
    pub scopes: Vec<Scope>,
    pub expires_at: DateTime<Utc>,
}

pub struct Admin {
    config: Arc<dyn ConfigStore>,
    keys: SigningKeys,
}

impl Admin {
    pub fn new(config: Arc<dyn ConfigStore>, keys: SigningKeys) -> Self {
        Self { config, keys }
    }

    /// Creates a tenant and its first key, which holds every scope.
    pub async fn create_tenant(&self, tenant: &TenantId) -> Result<KeyView, AdminError> {
        let record = TenantRecord {
            tenant: tenant.clone(),
            created_at: Utc::now(),
            retention_days: None,
        };
        if !self.config.create_tenant(&record).await? {
            return Err(AdminError::TenantExists(tenant.clone()));
        }
        let request = KeyRequest {
            scopes: Scope::ALL.to_vec(),
            label: "created with the tenant".into(),
            ..KeyRequest::default()
        };
        self.create_key(tenant, request).await
    }

    pub async fn create_key(
        &self,
        tenant: &TenantId,
        request: KeyRequest,
    ) -> Result<KeyView, AdminError> {
        if self.config.get_tenant(tenant).await?.is_none() {
            return Err(AdminError::UnknownTenant(tenant.clone()));
        }
        let (scopes, binding) = checked_kind(&request)?;
        if request.label.len() > MAX_LABEL_BYTES || request.label.chars().any(char::is_control) {
            return Err(AdminError::InvalidRequest(format!(
                "label must be at most {MAX_LABEL_BYTES} bytes of printable text"
            )));
        }
        let now = Utc::now();
        let expires_at = match request.expires_in_days {
            None => None,
            Some(days) if (1..=MAX_KEY_DAYS).contains(&days) => Some(now + Duration::days(days)),
            Some(_) => {
                return Err(AdminError::InvalidRequest(format!(
                    "expires_in_days must be 1 to {MAX_KEY_DAYS}"
                )))
            }
        };
        let mut key = NewApiKey::generate(tenant.clone(), scopes, request.label, expires_at, now);
        if let Some(binding) = binding {
            key = key.publishable(binding);
        }
        self.config.put_key(&key.record).await?;
        tracing::info!(tenant = %tenant, key_id = %key.record.key_id, "api key created");
        Ok(key.into())
    }

    pub async fn list_keys(&self, tenant: &TenantId) -> Result<Vec<KeyView>, AdminError> {
        let mut keys = self.config.list_keys(tenant).await?;
        keys.sort_by_key(|k| k.created_at);
        Ok(keys.iter().map(KeyView::from).collect())
    }

    /// Sets how many days of events (by event time) the tenant keeps; `None` keeps them
    /// forever. Applies to events written from now on; the archive sweep applies it to
    /// the whole archive.
    pub async fn set_retention(
        &self,
        tenant: &TenantId,
        days: Option<u32>,
    ) -> Result<TenantRecord, AdminError> {
        if days == Some(0) || days.is_some_and(|d| d > MAX_RETENTION_DAYS) {
            return Err(AdminError::InvalidRequest(format!(
                "retention is 1 to {MAX_RETENTION_DAYS} days, or none"
            )));
        }
        let mut record = self
            .config
            .get_tenant(tenant)
            .await?
            .ok_or_else(|| AdminError::UnknownTenant(tenant.clone()))?;
        record.retention_days = days;
        self.config.update_tenant(&record).await?;
        tracing::info!(tenant = %tenant, ?days, "retention set");
        Ok(record)
    }

    /// Revokes a key of `tenant`. Revoking twice is harmless.
    pub async fn revoke_key(&self, tenant: &TenantId, key_id: &str) -> Result<KeyView, AdminError> {
        let mut record = self
            .config
            .get_key(tenant, key_id)
            .await?
            .ok_or_else(|| AdminError::KeyNotFound(key_id.to_owned()))?;
        if record.revoked_at.is_none() {
            record.revoked_at = Some(Utc::now());
            self.config.put_key(&record).await?;
            tracing::info!(tenant = %tenant, key_id, "api key revoked");
        }
        Ok(KeyView::from(&record))
    }

    /// Mints a short-lived token holding a subset of the caller's scopes. Only API keys
    /// mint tokens, so a token cannot renew itself past its key's revocation.
    pub fn mint_token(
        &self,
        caller: &Principal,
        request: TokenRequest,
    ) -> Result<TokenView, AdminError> {
        if caller.via_signed_token() {
            return Err(AdminError::ApiKeyRequired);
        }
        // A token carries no origin binding: a publishable key must not shed its own.
        if caller.browser.is_some() {
            return Err(AdminError::PublishableKey);
        }
        let scopes = checked_scopes(request.scopes)?;
        if let Some(missing) = scopes.iter().find(|s| !caller.scopes.contains(s)) {
            return Err(AdminError::ScopeNotHeld(*missing));
        }
        let ttl = Duration::seconds(request.ttl_seconds);
        if ttl < Duration::seconds(1) || ttl > MAX_TOKEN_TTL {
            return Err(AdminError::InvalidRequest(format!(
                "ttl_seconds must be 1 to {}",
                MAX_TOKEN_TTL.num_seconds()
            )));
        }
        let (token, claims): (String, TokenClaims) =
            self.keys
                .sign_token(&caller.tenant, &scopes, ttl, Utc::now());
        Ok(TokenView {
            token,
            token_type: "Bearer",
            scopes,
            expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_default(),
        })
    }
}

/// A secret key's scopes; or a publishable key's (`events:write`) and its binding.
fn checked_kind(request: &KeyRequest) -> Result<(Vec<Scope>, Option<BrowserBinding>), AdminError> {
    match request.kind {
        KeyKind::Secret => {
            if !request.allowed_origins.is_empty() || request.rate_limit_per_minute.is_some() {
                return Err(AdminError::InvalidRequest(
                    "allowed_origins and rate_limit_per_minute are for publishable keys".into(),
                ));
            }
            Ok((checked_scopes(request.scopes.clone())?, None))
        }
        KeyKind::Publishable => {
            if request.scopes.iter().any(|s| *s != Scope::EventsWrite) {
                return Err(AdminError::InvalidRequest(
                    "a publishable key holds events:write only".into(),
                ));
            }
            let binding =
                BrowserBinding::new(&request.allowed_origins, request.rate_limit_per_minute)
                    .map_err(AdminError::InvalidRequest)?;
            Ok((vec![Scope::EventsWrite], Some(binding)))
        }
    }
}

fn checked_scopes(mut scopes: Vec<Scope>) -> Result<Vec<Scope>, AdminError> {
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(AdminError::InvalidRequest(
            "at least one scope is needed".into(),
        ));
    }
    Ok(scopes)
}
