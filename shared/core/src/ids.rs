//! Tenant and person ids. Both end up inside storage keys, so they are checked once,
//! at the edge, and carried as types afterwards.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest person id, in UTF-8 bytes. DynamoDB allows 2048 bytes for a partition key;
/// this leaves room for the tenant prefix and keeps alias and dedup keys well inside it.
pub const MAX_PERSON_BYTES: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("is {len} bytes long; the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error("contains a control character at byte {at}")]
    ControlCharacter { at: usize },
    #[error("must not start or end with white space")]
    SurroundingWhitespace,
    #[error("must be 2 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit")]
    BadTenantSyntax,
}

impl IdError {
    /// A stable, machine-readable code for problem responses.
    pub fn code(&self) -> &'static str {
        match self {
            IdError::Empty => "empty",
            IdError::TooLong { .. } => "too_long",
            IdError::ControlCharacter { .. } => "control_character",
            IdError::SurroundingWhitespace => "surrounding_whitespace",
            IdError::BadTenantSyntax => "bad_syntax",
        }
    }
}

/// A tenant: always taken from a verified credential, never from a request body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ok_len = (2..=63).contains(&raw.len());
        let ok_chars = raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let ok_start = raw.bytes().next().is_some_and(|b| b != b'-');
        if ok_len && ok_chars && ok_start {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdError::BadTenantSyntax)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person (customer) id as the tenant knows it: an account id, a cookie id, an email.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonId(String);

impl PersonId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        if raw.is_empty() {
            return Err(IdError::Empty);
        }
        if raw.len() > MAX_PERSON_BYTES {
            return Err(IdError::TooLong {
                len: raw.len(),
                max: MAX_PERSON_BYTES,
            });
        }
        if let Some((at, _)) = raw.char_indices().find(|(_, c)| c.is_control()) {
            return Err(IdError::ControlCharacter { at });
        }
        if raw.trim() != raw {
            return Err(IdError::SurroundingWhitespace);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype_conversions {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                Self::parse(&raw)
            }
        }
        impl From<$t> for String {
            fn from(id: $t) -> String {
                id.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_newtype_conversions!(TenantId);
string_newtype_conversions!(PersonId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_restricted_to_a_key_safe_alphabet() {
        for good in ["acme", "a1", "acme-eu-2"] {
            assert!(TenantId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "Acme", "-acme", "ac#me", "acme_1", &"a".repeat(64)] {
            assert_eq!(TenantId::parse(bad), Err(IdError::BadTenantSyntax), "{bad}");
        }
    }

    #[test]
    fn person_ids_reject_what_would_corrupt_keys_or_logs() {
        let cases = [
            ("", Some("empty")),
            ("alice@example.com", None),
            ("ünïcødé#with#hashes", None),
            ("tab\there", Some("control_character")),
            ("nul\0", Some("control_character")),
            (" alice", Some("surrounding_whitespace")),
            (&"x".repeat(MAX_PERSON_BYTES + 1), Some("too_long")),
            (&"x".repeat(MAX_PERSON_BYTES), None),
        ];
        for (raw, expected) in cases {
            let got = PersonId::parse(raw).err().map(|e| e.code());
            assert_eq!(got, expected, "{raw:?}");
        }
    }
}
