//! The one kind of JSON Web Token CJaaS signs and accepts: HS256 (RFC 7519 compact
//! JWS with HMAC-SHA256), the header naming the signing key (`kid`).
//!
//! Written on `hmac` and `sha2` instead of the `jsonwebtoken` crate, which links RSA,
//! ECDSA and EdDSA verifiers (and a bignum library) into every Lambda binary for
//! algorithms CJaaS never accepts. The checks are the ones `jsonwebtoken` made for
//! [`crate::auth`]: three base64url (unpadded) parts, `alg` exactly `HS256`, the MAC
//! compared in constant time, the required claims present, no audience.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;

const ALGORITHM: &str = "HS256";

/// Why a token was refused: it is not a JWT at all, or it is one CJaaS did not sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwtError {
    Malformed,
    Invalid,
}

#[derive(Serialize, Deserialize)]
struct Header {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
}

fn mac(secret: &[u8], signing_input: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    mac
}

fn encode_part(value: &impl Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("claims serialize to JSON"))
}

/// `header.claims.signature`, signed with `secret`, the header naming `kid`.
pub(crate) fn sign(kid: &str, claims: &impl Serialize, secret: &[u8]) -> String {
    let header = Header {
        typ: Some("JWT".to_owned()),
        alg: ALGORITHM.to_owned(),
        kid: Some(kid.to_owned()),
    };
    let signing_input = format!("{}.{}", encode_part(&header), encode_part(claims));
    let signature = mac(secret, &signing_input).finalize().into_bytes();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The three parts of a compact JWS, and the header.
fn split(token: &str) -> Result<([&str; 3], Header), JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| JwtError::Malformed)?;
    let parsed = serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)?;
    Ok(([header, claims, signature], parsed))
}

/// The key id the header names, before any check of the signature.
pub(crate) fn key_id(token: &str) -> Result<Option<String>, JwtError> {
    Ok(split(token)?.1.kid)
}

/// The claims of a token signed with `secret`, once the signature, `alg`, the
/// `required` claims, `iss` (one of `issuers`) and the absence of `aud` check out.
/// Expiry is the caller's: it checks against its own clock.
pub(crate) fn verify<T: DeserializeOwned>(
    token: &str,
    secret: &[u8],
    required: &[&str],
    issuers: &[&str],
) -> Result<T, JwtError> {
    let ([header, claims, signature], parsed) = split(token)?;
    if parsed.alg != ALGORITHM {
        return Err(JwtError::Invalid);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Invalid)?;
    mac(secret, &format!("{header}.{claims}"))
        .verify_slice(&signature)
        .map_err(|_| JwtError::Invalid)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(claims)
        .map_err(|_| JwtError::Invalid)?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| JwtError::Invalid)?;
    let issuer_ok =
        matches!(claims.get("iss"), Some(Value::String(iss)) if issuers.contains(&iss.as_str()));
    if !issuer_ok || claims.contains_key("aud") || !required.iter().all(|c| claims.contains_key(*c))
    {
        return Err(JwtError::Invalid);
    }
    serde_json::from_value(Value::Object(claims)).map_err(|_| JwtError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const REQUIRED: &[&str] = &["exp", "iss", "sub"];

    fn claims() -> Value {
        json!({"iss": "cjaas", "sub": "acme", "exp": 2_000_000_000_i64})
    }

    fn check(token: &str) -> Result<Value, JwtError> {
        verify(token, SECRET, REQUIRED, &["cjaas"])
    }

    /// A token with this header and these claims, signed like [`sign`] does.
    fn forge(header: &Value, claims: &Value, secret: &[u8]) -> String {
        let input = format!("{}.{}", encode_part(header), encode_part(claims));
        let signature = mac(secret, &input).finalize().into_bytes();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    #[test]
    fn a_signed_token_verifies_and_names_its_key() {
        let token = sign("k1", &claims(), SECRET);
        assert_eq!(key_id(&token), Ok(Some("k1".to_owned())));
        assert_eq!(check(&token), Ok(claims()));
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header, json!({"typ": "JWT", "alg": "HS256", "kid": "k1"}));
    }

    /// Made by another implementation (Python's hmac), as `jsonwebtoken` made them:
    /// tokens minted before this module verify after it.
    #[test]
    fn a_standard_hs256_token_verifies() {
        let token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0.\
                     eyJpc3MiOiJjamFhcyIsInN1YiI6ImFjbWUiLCJleHAiOjIwMDAwMDAwMDB9.\
                     gbuQSFX_J6sj2tx_xW5V54g7J9kkBKQCUaUjS7pONn8";
        assert_eq!(key_id(token), Ok(Some("k1".to_owned())));
        assert_eq!(check(token), Ok(claims()));
    }

    #[test]
    fn the_wrong_key_or_algorithm_is_refused() {
        assert_eq!(
            verify::<Value>(
                &sign("k1", &claims(), SECRET),
                b"another key",
                REQUIRED,
                &["cjaas"]
            ),
            Err(JwtError::Invalid)
        );
        for alg in ["none", "HS384", "RS256", "hs256"] {
            let token = forge(&json!({"alg": alg, "kid": "k1"}), &claims(), SECRET);
            assert_eq!(check(&token), Err(JwtError::Invalid), "{alg}");
        }
        let unsigned = format!(
            "{}.{}.",
            encode_part(&json!({"alg": "none"})),
            encode_part(&claims())
        );
        assert_eq!(check(&unsigned), Err(JwtError::Invalid));
    }

    #[test]
    fn issuer_audience_and_required_claims_are_checked() {
        let header = json!({"alg": "HS256", "kid": "k1"});
        let mut other_issuer = claims();
        other_issuer["iss"] = json!("someone");
        let mut with_audience = claims();
        with_audience["aud"] = json!("cjaas");
        let mut no_expiry = claims();
        no_expiry.as_object_mut().unwrap().remove("exp");
        for bad in [other_issuer, with_audience, no_expiry] {
            assert_eq!(
                check(&forge(&header, &bad, SECRET)),
                Err(JwtError::Invalid),
                "{bad}"
            );
        }
    }

    #[test]
    fn junk_is_malformed_not_invalid() {
        for junk in ["", "abc", "a.b", "a.b.c.d", "!!.e30.x", "e30.e30.x.y"] {
            assert_eq!(key_id(junk), Err(JwtError::Malformed), "{junk}");
            assert_eq!(check(junk), Err(JwtError::Malformed), "{junk}");
        }
        let token = sign("k1", &claims(), SECRET);
        let padded = format!("{token}=");
        assert_eq!(check(&padded), Err(JwtError::Invalid));
    }
}
