//! The one kind of JSON Web Token CJaaS signs and accepts: HS256 (RFC 7519 compact
//! JWS with HMAC-SHA256), the header naming the signing key (`kid`).
//!
//! Parsing and claim validation are `jsonwebtoken`'s; its cryptography is this module's
//! [`CryptoProvider`], HS256 only, on the `hmac` and `sha2` the crate already uses. The
//! crate's own providers (`rust_crypto`, `aws_lc_rs`) link RSA, ECDSA and EdDSA into
//! every binary for algorithms CJaaS never accepts (DECISIONS.md, "Lambda packages").

use std::sync::Once;

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::Sha256;

/// Why a token was refused: it is not a JWT at all, or it is one CJaaS did not sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwtError {
    Malformed,
    Invalid,
}

/// HMAC-SHA256 keyed with one secret: the signer and the verifier.
struct Hs256(Hmac<Sha256>);

impl Hs256 {
    fn new(algorithm: &Algorithm, secret: Result<&[u8], Error>) -> Result<Self, Error> {
        if *algorithm != Algorithm::HS256 {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        let mac = Hmac::new_from_slice(secret?).map_err(|_| ErrorKind::InvalidKeyFormat)?;
        Ok(Self(mac))
    }

    fn mac(&self, message: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(message);
        mac
    }
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.mac(message).finalize().into_bytes().to_vec())
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    /// Constant-time comparison (`verify_slice`).
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        self.mac(message)
            .verify_slice(signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

static HS256_ONLY: CryptoProvider = CryptoProvider {
    signer_factory: |algorithm, key| {
        Ok(Box::new(Hs256::new(algorithm, key.try_get_hmac_secret())?))
    },
    verifier_factory: |algorithm, key| {
        Ok(Box::new(Hs256::new(algorithm, key.try_get_hmac_secret())?))
    },
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Installs [`HS256_ONLY`] as the process's provider, once, before the first use.
fn install_provider() {
    static INSTALL: Once = Once::new();
    // An Err means another provider was installed first; it is used instead.
    INSTALL.call_once(|| {
        let _ = HS256_ONLY.install_default();
    });
}

/// `header.claims.signature`, signed with `secret`, the header naming `kid`.
pub(crate) fn sign(kid: &str, claims: &impl Serialize, secret: &[u8]) -> String {
    install_provider();
    let header = Header {
        kid: Some(kid.to_owned()),
        ..Header::new(Algorithm::HS256)
    };
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret))
        .expect("HS256 signing of serializable claims cannot fail")
}

/// The key id the header names, before any check of the signature.
pub(crate) fn key_id(token: &str) -> Result<Option<String>, JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    Ok(header.kid)
}

/// The claims of a token signed with `secret`, once the signature, `alg` (HS256 only),
/// the `required` claims, `iss` (one of `issuers`) and the absence of `aud` check out.
/// `exp` and `nbf` are the caller's: it checks them against its own clock.
pub(crate) fn verify<T: DeserializeOwned>(
    token: &str,
    secret: &[u8],
    required: &[&str],
    issuers: &[&str],
) -> Result<T, JwtError> {
    install_provider();
    key_id(token)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(issuers);
    validation.set_required_spec_claims(required);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = true; // with no audience set: a token naming one is refused
    let claims: Map<String, Value> =
        jsonwebtoken::decode(token, &DecodingKey::from_secret(secret), &validation)
            .map_err(|_| JwtError::Invalid)?
            .claims;
    // jsonwebtoken also takes an array of issuers that includes ours; CJaaS mints one.
    if !matches!(claims.get("iss"), Some(Value::String(_))) {
        return Err(JwtError::Invalid);
    }
    serde_json::from_value(Value::Object(claims)).map_err(|_| JwtError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const REQUIRED: &[&str] = &["exp", "iss", "sub"];

    fn claims() -> Value {
        json!({"iss": "cjaas", "sub": "acme", "exp": 2_000_000_000_i64})
    }

    fn check(token: &str) -> Result<Value, JwtError> {
        verify(token, SECRET, REQUIRED, &["cjaas"])
    }

    fn encode_part(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    /// A token with this header and these claims, HMAC-SHA256 signed with `secret`
    /// whatever the header says, as an attacker would make one.
    fn forge(header: &Value, claims: &Value, secret: &[u8]) -> String {
        let input = format!("{}.{}", encode_part(header), encode_part(claims));
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{input}.{signature}")
    }

    fn hs256() -> Value {
        json!({"alg": "HS256", "kid": "k1"})
    }

    #[test]
    fn a_signed_token_verifies_and_names_its_key() {
        let token = sign("k1", &claims(), SECRET);
        assert_eq!(key_id(&token), Ok(Some("k1".to_owned())));
        assert_eq!(check(&token), Ok(claims()));
        let header = token.split('.').next().unwrap();
        let header = URL_SAFE_NO_PAD.decode(header).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&header).unwrap(),
            json!({"typ": "JWT", "alg": "HS256", "kid": "k1"})
        );
    }

    /// Made by another implementation (Python's hmac): tokens minted by the earlier
    /// versions verify, and what this one signs is the same bytes.
    #[test]
    fn a_standard_hs256_token_verifies() {
        let token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0.\
                     eyJpc3MiOiJjamFhcyIsInN1YiI6ImFjbWUiLCJleHAiOjIwMDAwMDAwMDB9.\
                     gbuQSFX_J6sj2tx_xW5V54g7J9kkBKQCUaUjS7pONn8";
        assert_eq!(key_id(token), Ok(Some("k1".to_owned())));
        assert_eq!(check(token), Ok(claims()));
    }

    #[test]
    fn another_key_or_a_changed_part_is_refused() {
        let token = sign("k1", &claims(), SECRET);
        let other_key = verify::<Value>(&token, b"another key", REQUIRED, &["cjaas"]);
        assert_eq!(other_key, Err(JwtError::Invalid));
        let [header, _, signature]: [&str; 3] =
            token.split('.').collect::<Vec<_>>().try_into().unwrap();
        let mut changed = claims();
        changed["sub"] = json!("victim");
        let swapped = format!("{header}.{}.{signature}", encode_part(&changed));
        assert_eq!(check(&swapped), Err(JwtError::Invalid));
        let truncated = &token[..token.len() - 2];
        assert_eq!(check(truncated), Err(JwtError::Invalid));
        assert_eq!(
            check(&format!("{token}=")),
            Err(JwtError::Invalid),
            "padded"
        );
        let no_signature = &token[..=token.rfind('.').unwrap()];
        assert_eq!(check(no_signature), Err(JwtError::Invalid));
    }

    /// Algorithm confusion: whatever the header names, only an HS256 MAC is checked.
    #[test]
    fn no_other_algorithm_is_accepted() {
        // Signed with the right secret, but naming another algorithm (the RS256 case is
        // the classic confusion: a public key used as an HMAC secret).
        for alg in ["HS384", "HS512", "RS256", "ES256", "PS256", "EdDSA"] {
            let token = forge(&json!({"alg": alg, "kid": "k1"}), &claims(), SECRET);
            assert_eq!(check(&token), Err(JwtError::Invalid), "{alg}");
        }
        // Not algorithms at all: the header itself is refused.
        for alg in ["none", "None", "hs256", ""] {
            let header = json!({"alg": alg, "kid": "k1"});
            let unsigned = format!("{}.{}.", encode_part(&header), encode_part(&claims()));
            assert_eq!(check(&unsigned), Err(JwtError::Malformed), "{alg}");
            let signed = forge(&header, &claims(), SECRET);
            assert_eq!(check(&signed), Err(JwtError::Malformed), "{alg}");
        }
    }

    #[test]
    fn issuer_audience_and_required_claims_are_checked() {
        let mut cases = Vec::new();
        for (claim, value) in [
            ("iss", json!("someone")),
            ("iss", json!(["cjaas", "someone"])),
            ("aud", json!("cjaas")),
            ("aud", json!(["cjaas"])),
            ("sub", json!(7)),
            ("exp", json!("tomorrow")),
        ] {
            let mut bad = claims();
            bad[claim] = value;
            cases.push(bad);
        }
        for missing in REQUIRED {
            let mut bad = claims();
            bad.as_object_mut().unwrap().remove(*missing);
            cases.push(bad);
        }
        for bad in cases {
            let token = forge(&hs256(), &bad, SECRET);
            assert_eq!(check(&token), Err(JwtError::Invalid), "{bad}");
        }
    }

    /// `exp` and `nbf` are the caller's (auth checks them against its `now`): a token
    /// long expired or not yet valid still passes here, with the claims to check.
    #[test]
    fn times_are_left_to_the_caller() {
        let mut timed = claims();
        timed["exp"] = json!(1);
        timed["nbf"] = json!(4_000_000_000_i64);
        assert_eq!(check(&forge(&hs256(), &timed, SECRET)), Ok(timed));
    }

    #[test]
    fn junk_is_malformed() {
        let claims = encode_part(&claims());
        let junk = [
            String::new(),
            "abc".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            "!!.e30.x".into(),
            "e30.e30.x.y".into(),
            format!("e30.{claims}.x"),
            format!("{}.{claims}.x", URL_SAFE_NO_PAD.encode("not json")),
            format!("{}.{claims}.x", encode_part(&json!(["HS256"]))),
        ];
        for junk in junk {
            assert_eq!(key_id(&junk), Err(JwtError::Malformed), "{junk}");
            assert_eq!(check(&junk), Err(JwtError::Malformed), "{junk}");
        }
        let header = encode_part(&hs256());
        for claims in ["", "!!", "bm90IGpzb24"] {
            let token = format!("{header}.{claims}.x");
            assert_eq!(check(&token), Err(JwtError::Invalid), "{token}");
        }
    }
}
