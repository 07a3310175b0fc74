//! Credentials. Two kinds of bearer token, both bound to exactly one tenant:
//!
//! - **API keys** `cjk_{tenant}_{key id}_{secret}`: long-lived, revocable. Only a
//!   SHA-256 of the 256-bit random secret is stored, so a leaked table leaks no key.
//! - **Signed tokens**: short-lived JWTs (HS256) minted from an API key, e.g. a
//!   write-only token for a browser tag. The header names the signing key (`kid`);
//!   several keys verify at once, so keys rotate without downtime.
//!
//! The same keyset stamps stream records written by the ingest API, so the Tape writer
//! can tell them from records written straight to the stream by producers.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

use crate::browser::BrowserBinding;
use crate::ids::TenantId;
use crate::jwt;

const API_KEY_PREFIX: &str = "cjk";
/// Publishable keys: safe to ship in a web page (see [`crate::browser`]).
const PUBLISHABLE_PREFIX: &str = "cjp";
const ISSUER: &str = "cjaas";
/// Longest lifetime of a signed token.
pub const MAX_TOKEN_TTL: Duration = Duration::hours(24);
const MIN_SIGNING_KEY_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "events:write")]
    EventsWrite,
    #[serde(rename = "tape:read")]
    TapeRead,
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::EventsWrite, Scope::TapeRead, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::EventsWrite => "events:write",
            Scope::TapeRead => "tape:read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Parses a space- or comma-separated list; `None` if any entry is unknown.
    pub fn parse_list(raw: &str) -> Option<Vec<Scope>> {
        let mut scopes = raw
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(Scope::parse)
            .collect::<Option<Vec<_>>>()?;
        scopes.sort();
        scopes.dedup();
        Some(scopes)
    }

    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling: a verified tenant and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub tenant: TenantId,
    pub scopes: Vec<Scope>,
    /// The API key id, or `jwt:{jti}` for a signed token. Safe to log.
    pub credential: String,
    /// Set for a publishable key: where browsers may use it from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<BrowserBinding>,
}

impl Principal {
    /// Whether the caller holds a short-lived signed token rather than an API key.
    pub fn via_signed_token(&self) -> bool {
        self.credential.starts_with("jwt:")
    }

    pub fn require(&self, scope: Scope) -> Result<(), AuthError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope(scope))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token was given")]
    Missing,
    #[error("the bearer token is not a CJaaS credential")]
    Malformed,
    #[error("the credential is unknown, revoked or does not match")]
    Invalid,
    #[error("the credential has expired")]
    Expired,
    #[error("the credential lacks the scope {0}")]
    InsufficientScope(Scope),
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing_credential",
            AuthError::Malformed => "malformed_credential",
            AuthError::Invalid => "invalid_credential",
            AuthError::Expired => "expired_credential",
            AuthError::InsufficientScope(_) => "insufficient_scope",
        }
    }
}

/// A parsed bearer token, before it is checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Bearer<'a> {
    ApiKey {
        tenant: TenantId,
        key_id: &'a str,
        secret: &'a str,
        /// Presented with the publishable prefix `cjp_`.
        publishable: bool,
    },
    Signed(&'a str),
}

impl<'a> Bearer<'a> {
    pub fn parse(token: &'a str) -> Result<Self, AuthError> {
        let api_key = token
            .strip_prefix("cjk_")
            .map(|rest| (rest, false))
            .or_else(|| token.strip_prefix("cjp_").map(|rest| (rest, true)));
        if let Some((rest, publishable)) = api_key {
            let mut parts = rest.splitn(3, '_');
            let (Some(tenant), Some(key_id), Some(secret)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(AuthError::Malformed);
            };
            let tenant = TenantId::parse(tenant).map_err(|_| AuthError::Malformed)?;
            return Ok(Bearer::ApiKey {
                tenant,
                key_id,
                secret,
                publishable,
            });
        }
        if token.starts_with("eyJ") && token.matches('.').count() == 2 {
            return Ok(Bearer::Signed(token));
        }
        Err(AuthError::Malformed)
    }

    /// Reads `Authorization: Bearer <token>`.
    pub fn from_authorization(header: Option<&'a str>) -> Result<Self, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthError::Malformed)?;
        Bearer::parse(token.trim())
    }
}

/// A stored API key: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub tenant: TenantId,
    pub key_id: String,
    pub secret_sha256: String,
    pub scopes: Vec<Scope>,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Set for a publishable key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publishable: Option<BrowserBinding>,
}

impl ApiKeyRecord {
    /// Checks a presented secret in constant time, and that a publishable key was
    /// presented as one (and a secret key not as one).
    pub fn verify_as(
        &self,
        publishable: bool,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, AuthError> {
        if publishable != self.publishable.is_some() {
            return Err(AuthError::Invalid);
        }
        self.verify(secret, now)
    }

    /// Checks a presented secret in constant time.
    pub fn verify(&self, secret: &str, now: DateTime<Utc>) -> Result<Principal, AuthError> {
        let presented = sha256_hex(secret.as_bytes());
        let matches: bool = presented
            .as_bytes()
            .ct_eq(self.secret_sha256.as_bytes())
            .into();
        if !matches || self.revoked_at.is_some() {
            return Err(AuthError::Invalid);
        }
        if self.expires_at.is_some_and(|t| t <= now) {
            return Err(AuthError::Expired);
        }
        Ok(Principal {
            tenant: self.tenant.clone(),
            scopes: self.scopes.clone(),
            credential: self.key_id.clone(),
            browser: self.publishable.clone(),
        })
    }
}

/// A freshly made API key. `token` is shown to its owner once and never stored.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub record: ApiKeyRecord,
    pub token: String,
}

impl NewApiKey {
    pub fn generate(
        tenant: TenantId,
        scopes: Vec<Scope>,
        label: String,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        let key_id = random_key_id();
        let secret = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
        let token = format!("{API_KEY_PREFIX}_{tenant}_{key_id}_{secret}");
        let record = ApiKeyRecord {
            tenant,
            key_id,
            secret_sha256: sha256_hex(secret.as_bytes()),
            scopes,
            label,
            created_at: now,
            expires_at,
            revoked_at: None,
            publishable: None,
        };
        Self { record, token }
    }

    /// Makes this a publishable key bound to `binding` (its token starts with `cjp_`).
    pub fn publishable(mut self, binding: BrowserBinding) -> Self {
        self.record.publishable = Some(binding);
        self.token = format!(
            "{PUBLISHABLE_PREFIX}{}",
            &self.token[API_KEY_PREFIX.len()..]
        );
        self
    }
}

fn random_key_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    random_bytes::<12>()
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Claims of a signed token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    pub iss: String,
    /// The tenant.
    pub sub: String,
    /// Space-separated scopes.
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    /// Not before: CJaaS does not set it, but a token that has one is refused until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub jti: String,
}

#[derive(Clone)]
struct SigningKey {
    kid: String,
    secret: Vec<u8>,
    /// The HMAC keyed with `secret` and nothing hashed yet: stamps clone it instead of
    /// hashing the padded key again for every record.
    stamp_mac: Hmac<Sha256>,
}

impl SigningKey {
    fn new(kid: &str, secret: Vec<u8>) -> Self {
        let stamp_mac = Hmac::<Sha256>::new_from_slice(&secret).expect("HMAC takes any key length");
        Self {
            kid: kid.to_owned(),
            secret,
            stamp_mac,
        }
    }
}

/// The signing keyset: `kid:base64secret,kid:base64secret`, the first one signs.
/// Rotation: prepend a new key, deploy, and drop the old one once its tokens expired.
#[derive(Clone)]
pub struct SigningKeys {
    keys: Vec<SigningKey>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("SigningKeys").field("kids", &kids).finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid signing keyset: {0}")]
pub struct KeysetError(String);

impl SigningKeys {
    pub fn parse(config: &str) -> Result<Self, KeysetError> {
        let keys = config
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(|part| {
                let (kid, secret) = part
                    .trim()
                    .split_once(':')
                    .ok_or_else(|| KeysetError("each key must be kid:base64".into()))?;
                let secret = STANDARD
                    .decode(secret)
                    .or_else(|_| URL_SAFE_NO_PAD.decode(secret))
                    .map_err(|_| KeysetError(format!("key {kid} is not base64")))?;
                let kid_ok = !kid.is_empty()
                    && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if secret.len() < MIN_SIGNING_KEY_BYTES || !kid_ok {
                    return Err(KeysetError(format!(
                        "key {kid:?} needs a name of letters, digits, '-' or '_' and at least {MIN_SIGNING_KEY_BYTES} bytes"
                    )));
                }
                Ok(SigningKey::new(kid, secret))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(KeysetError("no keys".into()));
        }
        Ok(Self { keys })
    }

    /// A new keyset with one random key, e.g. for the embedded default's first start.
    pub fn generate(kid: &str) -> Self {
        Self {
            keys: vec![SigningKey::new(kid, random_bytes::<32>().to_vec())],
        }
    }

    pub fn to_config(&self) -> String {
        self.keys
            .iter()
            .map(|k| format!("{}:{}", k.kid, STANDARD.encode(&k.secret)))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn current(&self) -> &SigningKey {
        &self.keys[0]
    }

    fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// Mints a signed token for `tenant`.
    pub fn sign_token(
        &self,
        tenant: &TenantId,
        scopes: &[Scope],
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> (String, TokenClaims) {
        let key = self.current();
        let claims = TokenClaims {
            iss: ISSUER.to_owned(),
            sub: tenant.to_string(),
            scope: Scope::join(scopes),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
            nbf: None,
            jti: hex::encode(random_bytes::<12>()),
        };
        let token = jwt::sign(&key.kid, &claims, &key.secret);
        (token, claims)
    }

    /// Verifies a signed token: signature by a known key, issuer, expiry and tenant.
    pub fn verify_token(&self, token: &str, now: DateTime<Utc>) -> Result<Principal, AuthError> {
        let key = jwt::key_id(token)
            .map_err(|_| AuthError::Malformed)?
            .and_then(|kid| self.find(&kid))
            .ok_or(AuthError::Invalid)?;
        // Expiry and not-before are checked below against `now`, for testability.
        let claims: TokenClaims =
            jwt::verify(token, &key.secret, &["exp", "iss", "sub"], &[ISSUER])
                .map_err(|_| AuthError::Invalid)?;
        if claims.exp <= now.timestamp() {
            return Err(AuthError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf > now.timestamp()) {
            return Err(AuthError::Invalid);
        }
        Ok(Principal {
            tenant: TenantId::parse(&claims.sub).map_err(|_| AuthError::Invalid)?,
            scopes: Scope::parse_list(&claims.scope).ok_or(AuthError::Invalid)?,
            credential: format!("jwt:{}", claims.jti),
            browser: None,
        })
    }

    /// Stamps a stream record: `kid.mac` over tenant, receive time and the event bytes.
    pub fn stamp(&self, tenant: &TenantId, received_at: &str, event: &[u8]) -> String {
        let key = self.current();
        let mac = stamp_mac(key, tenant.as_str(), received_at, event).finalize();
        format!("{}.{}", key.kid, URL_SAFE_NO_PAD.encode(mac.into_bytes()))
    }

    pub fn verify_stamp(&self, stamp: &str, tenant: &str, received_at: &str, event: &[u8]) -> bool {
        let Some((kid, mac)) = stamp.split_once('.') else {
            return false;
        };
        let (Some(key), Ok(mac)) = (self.find(kid), URL_SAFE_NO_PAD.decode(mac)) else {
            return false;
        };
        stamp_mac(key, tenant, received_at, event)
            .verify_slice(&mac)
            .is_ok()
    }
}

fn stamp_mac(key: &SigningKey, tenant: &str, received_at: &str, event: &[u8]) -> Hmac<Sha256> {
    let mut mac = key.stamp_mac.clone();
    for part in [tenant.as_bytes(), received_at.as_bytes(), event] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac
}

#[cfg(test)]
mod tests;
