use super::*;

fn acme() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn now() -> DateTime<Utc> {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

#[test]
fn api_keys_verify_only_with_their_secret_and_while_live() {
    let key = NewApiKey::generate(acme(), vec![Scope::TapeRead], "ci".into(), None, now());
    let Bearer::ApiKey {
        tenant,
        key_id,
        secret,
        publishable: false,
    } = Bearer::parse(&key.token).unwrap()
    else {
        panic!("an API key parses as one");
    };
    assert_eq!((tenant, key_id), (acme(), key.record.key_id.as_str()));
    assert!(
        !key.record.secret_sha256.contains(secret),
        "only the hash is kept"
    );
    let principal = key.record.verify(secret, now()).unwrap();
    assert_eq!(principal.scopes, [Scope::TapeRead]);
    assert_eq!(
        principal.require(Scope::Admin),
        Err(AuthError::InsufficientScope(Scope::Admin))
    );
    assert_eq!(key.record.verify("wrong", now()), Err(AuthError::Invalid));

    let mut revoked = key.record.clone();
    revoked.revoked_at = Some(now());
    assert_eq!(revoked.verify(secret, now()), Err(AuthError::Invalid));
    let mut expired = key.record;
    expired.expires_at = Some(now());
    assert_eq!(expired.verify(secret, now()), Err(AuthError::Expired));
}

#[test]
fn publishable_keys_verify_only_as_publishable_and_carry_their_binding() {
    let binding = BrowserBinding::new(&["https://shop.example.com".into()], Some(60)).unwrap();
    let key = NewApiKey::generate(acme(), vec![Scope::EventsWrite], "web".into(), None, now())
        .publishable(binding.clone());
    assert!(key.token.starts_with("cjp_acme_"));
    let Bearer::ApiKey {
        secret,
        publishable: true,
        ..
    } = Bearer::parse(&key.token).unwrap()
    else {
        panic!("a publishable key parses as one");
    };
    let principal = key.record.verify_as(true, secret, now()).unwrap();
    assert_eq!(principal.browser, Some(binding));
    assert_eq!(
        key.record.verify_as(false, secret, now()),
        Err(AuthError::Invalid),
        "relabelled as a secret key, it is refused"
    );
    let secret_key = NewApiKey::generate(acme(), vec![Scope::Admin], "ci".into(), None, now());
    let Bearer::ApiKey { secret, .. } = Bearer::parse(&secret_key.token).unwrap() else {
        panic!("an API key");
    };
    assert_eq!(
        secret_key.record.verify_as(true, secret, now()),
        Err(AuthError::Invalid)
    );
}

#[test]
fn signed_tokens_survive_rotation_and_expire() {
    let old = SigningKeys::generate("k1");
    let (token, _) = old.sign_token(&acme(), &[Scope::EventsWrite], Duration::minutes(5), now());
    let rotated = SigningKeys::parse(&format!(
        "{},{}",
        SigningKeys::generate("k2").to_config(),
        old.to_config()
    ))
    .unwrap();
    let principal = rotated.verify_token(&token, now()).unwrap();
    assert_eq!(
        (principal.tenant, principal.scopes),
        (acme(), vec![Scope::EventsWrite])
    );
    assert_eq!(
        rotated.verify_token(&token, now() + Duration::minutes(5)),
        Err(AuthError::Expired)
    );
    let retired = SigningKeys::generate("k2");
    assert_eq!(retired.verify_token(&token, now()), Err(AuthError::Invalid));
}

#[test]
fn a_tampered_token_is_refused() {
    let keys = SigningKeys::generate("k1");
    let (token, _) = keys.sign_token(&acme(), &[Scope::TapeRead], Duration::minutes(5), now());
    let mut parts: Vec<&str> = token.split('.').collect();
    let mut claims: TokenClaims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims.sub = "victim".into();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    parts[1] = &payload;
    assert_eq!(
        keys.verify_token(&parts.join("."), now()),
        Err(AuthError::Invalid)
    );
}

#[test]
fn stamps_bind_tenant_time_and_bytes() {
    let keys = SigningKeys::generate("k1");
    let stamp = keys.stamp(&acme(), "t0", b"{}");
    assert!(keys.verify_stamp(&stamp, "acme", "t0", b"{}"));
    assert!(!keys.verify_stamp(&stamp, "evil", "t0", b"{}"));
    assert!(!keys.verify_stamp(&stamp, "acme", "t1", b"{}"));
    assert!(!keys.verify_stamp(&stamp, "acme", "t0", b"{ }"));
}

/// The stamp's MAC, keyed once per key, is the HMAC keyed anew per record: records
/// stamped before the change still verify.
#[test]
fn stamps_are_the_hmac_keyed_per_record() {
    let keys = SigningKeys::generate("k1");
    let key = keys.current();
    let mut fresh = Hmac::<Sha256>::new_from_slice(&key.secret).unwrap();
    for part in [&b"acme"[..], b"t0", br#"{"id":"1"}"#] {
        fresh.update(&(part.len() as u64).to_be_bytes());
        fresh.update(part);
    }
    let want = format!(
        "k1.{}",
        URL_SAFE_NO_PAD.encode(fresh.finalize().into_bytes())
    );
    assert_eq!(keys.stamp(&acme(), "t0", br#"{"id":"1"}"#), want);
}

#[test]
fn bearer_parsing_distinguishes_kinds_and_junk() {
    assert_eq!(Bearer::from_authorization(None), Err(AuthError::Missing));
    assert_eq!(
        Bearer::from_authorization(Some("Basic abc")),
        Err(AuthError::Malformed)
    );
    assert_eq!(Bearer::parse("cjk_BAD_x_y"), Err(AuthError::Malformed));
    assert!(matches!(Bearer::parse("eyJa.b.c"), Ok(Bearer::Signed(_))));
}

#[test]
fn keysets_need_long_named_keys() {
    assert!(SigningKeys::parse("").is_err());
    assert!(SigningKeys::parse("k1:c2hvcnQ=").is_err());
    let keys = SigningKeys::generate("k1");
    assert_eq!(
        SigningKeys::parse(&keys.to_config()).unwrap().to_config(),
        keys.to_config()
    );
}

#[test]
fn a_token_is_refused_before_its_not_before_time() {
    let keys = SigningKeys::generate("k1");
    let (_, mut claims) = keys.sign_token(&acme(), &[Scope::TapeRead], Duration::minutes(5), now());
    assert_eq!(claims.nbf, None, "CJaaS does not set nbf");
    claims.nbf = Some((now() + Duration::minutes(1)).timestamp());
    let key = keys.current();
    let token = jwt::sign(&key.kid, &claims, &key.secret);
    assert_eq!(keys.verify_token(&token, now()), Err(AuthError::Invalid));
    let principal = keys.verify_token(&token, now() + Duration::minutes(1));
    assert_eq!(principal.map(|p| p.tenant), Ok(acme()));
}
