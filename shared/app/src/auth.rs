//! Verifies bearer tokens: API keys against the config store, signed tokens offline.
//! The Lambda authorizer and the local server run this same code.

use chrono::Utc;
use std::sync::Arc;

use cjaas_core::auth::{AuthError, Bearer, Principal, SigningKeys};
use cjaas_core::ports::{ConfigStore, StoreError};

use crate::failure::{AppError, OneOf};

#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    #[error(transparent)]
    Denied(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OneOf for AuthFailure {
    fn inner(&self) -> &dyn AppError {
        match self {
            AuthFailure::Denied(e) => e,
            AuthFailure::Store(e) => e,
        }
    }
}

pub struct Authenticator {
    config: Arc<dyn ConfigStore>,
    keys: SigningKeys,
}

impl Authenticator {
    pub fn new(config: Arc<dyn ConfigStore>, keys: SigningKeys) -> Self {
        Self { config, keys }
    }

    /// The config store that keys (and tenants) are read from.
    pub fn config(&self) -> &Arc<dyn ConfigStore> {
        &self.config
    }

    /// Verifies the value of an `Authorization` header.
    pub async fn authenticate_header(
        &self,
        header: Option<&str>,
    ) -> Result<Principal, AuthFailure> {
        self.verify(Bearer::from_authorization(header)?).await
    }

    /// Verifies a bare token.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthFailure> {
        self.verify(Bearer::parse(token)?).await
    }

    async fn verify(&self, bearer: Bearer<'_>) -> Result<Principal, AuthFailure> {
        let now = Utc::now();
        match bearer {
            Bearer::Signed(token) => Ok(self.keys.verify_token(token, now)?),
            Bearer::ApiKey {
                tenant,
                key_id,
                secret,
                publishable,
            } => {
                let record = self
                    .config
                    .get_key(&tenant, key_id)
                    .await?
                    .ok_or(AuthError::Invalid)?;
                Ok(record.verify_as(publishable, secret, now)?)
            }
        }
    }
}
