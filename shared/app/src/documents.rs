//! The JSON bodies of documents in the [`DocumentStore`](cjaas_core::ports::DocumentStore),
//! read and written the same way by every service.

use serde::{de::DeserializeOwned, Serialize};

use cjaas_core::ports::StoreError;

/// A body that does not parse is a store fault (something else wrote it): transient.
pub(crate) fn decode<T: DeserializeOwned>(body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body)
        .map_err(|e| StoreError::Transient(format!("unreadable document: {e}")))
}

pub(crate) fn encode(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("documents serialize")
}
