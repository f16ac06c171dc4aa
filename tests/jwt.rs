//! JWT signature verification with real keys (tests/fixtures/keys, made with openssl) and the
//! XNAI IAM provider's states around expiry with a fixed clock.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use xnai::check::{State, check_account};
use xnai::config::load_str;
use xnai::secret::Secret;
use xnai::token::jwt::{self, VerifyError};

fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(keys_dir().join(name)).expect("fixture key")
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: serde_json::Value, kid: Option<&str>) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&h, &claims, key).expect("encode")
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&read("rsa_private.pem")).expect("rsa")
}

fn claims(exp: i64) -> serde_json::Value {
    json!({"iss": "xnai-iam", "sub": "dev", "exp": exp, "iat": 1_700_000_000})
}

fn verify_with_pem(token: &str, pem: &str) -> Result<String, VerifyError> {
    let info = jwt::inspect(token).expect("inspect");
    let key = jwt::key_from_pem_file(&keys_dir().join(pem)).expect("load key");
    jwt::verify(token, &info, &[key])
}

#[test]
fn rs256_verifies_with_its_public_key() {
    let t = sign(Algorithm::RS256, &rsa_key(), claims(4_102_444_800), None);
    let by = verify_with_pem(&t, "rsa_public.pem").expect("verified");
    assert!(by.contains("RSA public key"), "{by}");
    assert!(by.ends_with("rsa_public.pem"), "{by}");
}

#[test]
fn other_rsa_algorithms_verify_too() {
    for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256] {
        let t = sign(alg, &rsa_key(), claims(4_102_444_800), None);
        assert!(verify_with_pem(&t, "rsa_public.pem").is_ok(), "{alg:?}");
    }
}

#[test]
fn es256_verifies_with_its_public_key() {
    let k = EncodingKey::from_ec_pem(&read("ec_private.pem")).expect("ec");
    let t = sign(Algorithm::ES256, &k, claims(4_102_444_800), None);
    let by = verify_with_pem(&t, "ec_public.pem").expect("verified");
    assert!(by.contains("EC public key"), "{by}");
}

#[test]
fn hs256_verifies_with_the_shared_secret_only() {
    let k = EncodingKey::from_secret(b"shared-secret-for-tests").expect("hmac");
    let t = sign(Algorithm::HS256, &k, claims(4_102_444_800), None);
    let info = jwt::inspect(&t).expect("inspect");
    let good = jwt::key_from_secret(&Secret::from_str_value("shared-secret-for-tests")).expect("k");
    assert_eq!(
        jwt::verify(&t, &info, &[good]).expect("ok"),
        "HMAC secret jwt_secret"
    );
    let bad = jwt::key_from_secret(&Secret::from_str_value("another-secret")).expect("k");
    assert!(matches!(
        jwt::verify(&t, &info, &[bad]),
        Err(VerifyError::BadSignature(_))
    ));
}

#[test]
fn wrong_key_is_a_bad_signature() {
    let t = sign(Algorithm::RS256, &rsa_key(), claims(4_102_444_800), None);
    let err = verify_with_pem(&t, "rsa2_public.pem").expect_err("wrong key");
    assert!(matches!(err, VerifyError::BadSignature(_)), "{err:?}");
    assert!(err.to_string().contains("signature does not match"));
}

#[test]
fn tampered_payload_is_a_bad_signature() {
    let t = sign(Algorithm::RS256, &rsa_key(), claims(1_000), None);
    let parts: Vec<&str> = t.split('.').collect();
    // Extend the expiry without re-signing: the classic tampering.
    let forged_claims =
        jwt::b64url(br#"{"iss":"xnai-iam","sub":"dev","exp":4102444800,"iat":1700000000}"#);
    let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
    let err = verify_with_pem(&forged, "rsa_public.pem").expect_err("tampered");
    assert!(matches!(err, VerifyError::BadSignature(_)), "{err:?}");
}

#[test]
fn tampered_signature_is_a_bad_signature() {
    let t = sign(
        Algorithm::ES256,
        &EncodingKey::from_ec_pem(&read("ec_private.pem")).expect("ec"),
        claims(4_102_444_800),
        None,
    );
    let (head, sig) = t.rsplit_once('.').expect("3 parts");
    let mut s: Vec<char> = sig.chars().collect();
    s[5] = if s[5] == 'A' { 'B' } else { 'A' };
    let forged = format!("{head}.{}", s.into_iter().collect::<String>());
    assert!(matches!(
        verify_with_pem(&forged, "ec_public.pem"),
        Err(VerifyError::BadSignature(_))
    ));
}

#[test]
fn algorithm_confusion_is_rejected() {
    // The attack: sign HS256 with the RSA *public key* bytes as the HMAC secret, hoping the
    // verifier uses the configured public key as an HMAC secret.
    let public_pem = read("rsa_public.pem");
    let t = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(&public_pem).expect("hmac"),
        claims(4_102_444_800),
        None,
    );
    let err = verify_with_pem(&t, "rsa_public.pem").expect_err("confusion");
    assert!(matches!(err, VerifyError::AlgorithmRejected(_)), "{err:?}");
    assert!(err.to_string().contains("algorithm confusion"), "{err}");
    // And an RS256 token against an EC key.
    let t = sign(Algorithm::RS256, &rsa_key(), claims(4_102_444_800), None);
    assert!(matches!(
        verify_with_pem(&t, "ec_public.pem"),
        Err(VerifyError::AlgorithmRejected(_))
    ));
}

#[test]
fn alg_none_never_passes() {
    let header = jwt::b64url(br#"{"alg":"none","typ":"JWT"}"#);
    let body = jwt::b64url(br#"{"exp":4102444800}"#);
    for token in [format!("{header}.{body}."), format!("{header}.{body}.c2ln")] {
        let err = jwt::inspect(&token).expect_err("alg none");
        assert!(err.contains("alg none"), "{err}");
    }
}

fn write_jwks(dir: &Path, keys: Vec<Jwk>) -> PathBuf {
    let p = dir.join("jwks.json");
    std::fs::write(&p, serde_json::to_vec(&JwkSet { keys }).expect("json")).expect("write");
    p
}

#[test]
fn jwks_selects_the_key_by_kid() {
    let dir = tempfile::tempdir().expect("tmp");
    let k1 = rsa_key();
    let k2 = EncodingKey::from_rsa_pem(&read("rsa2_private.pem")).expect("rsa2");
    let mut j1 = Jwk::from_encoding_key(&k1, Algorithm::RS256).expect("jwk");
    j1.common.key_id = Some("one".into());
    let mut j2 = Jwk::from_encoding_key(&k2, Algorithm::RS256).expect("jwk");
    j2.common.key_id = Some("two".into());
    let path = write_jwks(dir.path(), vec![j1, j2]);
    let keys = jwt::keys_from_jwks_file(&path).expect("jwks");
    assert_eq!(keys.len(), 2);

    let t = sign(Algorithm::RS256, &k2, claims(4_102_444_800), Some("two"));
    let info = jwt::inspect(&t).expect("inspect");
    assert!(
        jwt::verify(&t, &info, &keys)
            .expect("ok")
            .contains("(kid two)")
    );

    // Signed by key two but claiming kid one: only key one is tried, and fails.
    let t = sign(Algorithm::RS256, &k2, claims(4_102_444_800), Some("one"));
    let info = jwt::inspect(&t).expect("inspect");
    assert!(matches!(
        jwt::verify(&t, &info, &keys),
        Err(VerifyError::BadSignature(_))
    ));

    let t = sign(Algorithm::RS256, &k2, claims(4_102_444_800), Some("three"));
    let info = jwt::inspect(&t).expect("inspect");
    assert!(matches!(
        jwt::verify(&t, &info, &keys),
        Err(VerifyError::NoMatchingKey(_))
    ));
}

#[test]
fn single_jwk_file_and_pinned_alg() {
    let dir = tempfile::tempdir().expect("tmp");
    let ec = EncodingKey::from_ec_pem(&read("ec_private.pem")).expect("ec");
    let jwk = Jwk::from_encoding_key(&ec, Algorithm::ES256).expect("jwk");
    let p = dir.path().join("one.jwk");
    std::fs::write(&p, serde_json::to_vec(&jwk).expect("json")).expect("write");
    let keys = jwt::keys_from_jwks_file(&p).expect("jwk");
    let t = sign(Algorithm::ES256, &ec, claims(4_102_444_800), None);
    let info = jwt::inspect(&t).expect("inspect");
    assert!(jwt::verify(&t, &info, &keys).is_ok());
}

#[test]
fn broken_key_files_are_reported() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("junk.pem");
    std::fs::write(&p, "not a key").expect("write");
    assert!(
        jwt::key_from_pem_file(&p)
            .expect_err("junk")
            .contains("not a PEM public key")
    );
    assert!(
        jwt::key_from_pem_file(&dir.path().join("missing.pem"))
            .expect_err("missing")
            .contains("cannot read public key")
    );
    let j = dir.path().join("bad.json");
    std::fs::write(&j, "{\n  \"keys\": 5\n}").expect("write");
    let e = jwt::keys_from_jwks_file(&j).expect_err("bad");
    assert!(e.contains("not a valid JWK or JWKS"), "{e}");
    std::fs::write(&j, "{\"hello\": 1}").expect("write");
    let e = jwt::keys_from_jwks_file(&j).expect_err("no kty");
    assert!(e.contains("expected a \"keys\" list"), "{e}");
}

// ---- The xnai_iam provider through `check`, with a fixed clock ----

const NOW: i64 = 1_800_000_000;

fn iam_state(token: &str, extra: &str) -> (State, String) {
    let yaml = format!(
        "credentials:\n  xnai_iam:\n    access_token: \"{token}\"\n{extra}token_validation:\n  refresh_buffer_minutes: 5\n"
    );
    let cfg = load_str(&yaml, &keys_dir().join("credentials.yaml"), &|_| None).expect("config");
    let acc = cfg.accounts().next().expect("account");
    let r = check_account(acc, 5, Timestamp::from_second(NOW).expect("ts"));
    (r.state, r.message)
}

const WITH_KEY: &str = "    public_key_path: rsa_public.pem\n";

#[test]
fn expiry_around_now() {
    let k = rsa_key();
    let at = |exp: i64| sign(Algorithm::RS256, &k, claims(exp), None);
    assert_eq!(iam_state(&at(NOW - 1), WITH_KEY).0, State::Expired);
    assert_eq!(iam_state(&at(NOW), WITH_KEY).0, State::Expired);
    assert_eq!(iam_state(&at(NOW + 1), WITH_KEY).0, State::ExpiringSoon);
    assert_eq!(iam_state(&at(NOW + 300), WITH_KEY).0, State::ExpiringSoon);
    assert_eq!(iam_state(&at(NOW + 301), WITH_KEY).0, State::Valid);
    let (s, m) = iam_state(&at(NOW + 3600), WITH_KEY);
    assert_eq!(s, State::Valid);
    assert_eq!(m, "JWT (RS256), signature verified");
}

#[test]
fn not_before_in_the_future() {
    let t = sign(
        Algorithm::RS256,
        &rsa_key(),
        json!({"exp": NOW + 7200, "nbf": NOW + 60}),
        None,
    );
    let (s, m) = iam_state(&t, WITH_KEY);
    assert_eq!(s, State::NotYetValid);
    assert!(m.starts_with("not valid before"), "{m}");
}

#[test]
fn signature_problems_win_over_expiry() {
    let t = sign(
        Algorithm::RS256,
        &EncodingKey::from_rsa_pem(&read("rsa2_private.pem")).expect("rsa2"),
        claims(NOW - 10),
        None,
    );
    assert_eq!(iam_state(&t, WITH_KEY).0, State::InvalidSignature);
}

#[test]
fn no_key_is_unverifiable_and_missing_key_file_is_an_error() {
    let t = sign(Algorithm::RS256, &rsa_key(), claims(NOW + 7200), None);
    let (s, m) = iam_state(&t, "");
    assert_eq!(s, State::Unverifiable);
    assert!(m.contains("no key configured"), "{m}");
    let (s, m) = iam_state(&t, "    public_key_path: nope.pem\n");
    assert_eq!(s, State::Error);
    assert!(m.contains("cannot read public key"), "{m}");
    // An expired token with no key is still just expired.
    let t = sign(Algorithm::RS256, &rsa_key(), claims(NOW - 7200), None);
    assert_eq!(iam_state(&t, "").0, State::Expired);
}

#[test]
fn hs256_through_the_provider() {
    let t = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"s3cret-shared-key").expect("hmac"),
        claims(NOW + 7200),
        None,
    );
    assert_eq!(
        iam_state(&t, "    jwt_secret: s3cret-shared-key\n").0,
        State::Valid
    );
    assert_eq!(
        iam_state(&t, "    jwt_secret: other\n").0,
        State::InvalidSignature
    );
    // An HMAC token can never pass against a public key.
    assert_eq!(iam_state(&t, WITH_KEY).0, State::InvalidSignature);
}

#[test]
fn malformed_jwt_is_invalid_format() {
    let (s, m) = iam_state("not.a.jwt", WITH_KEY);
    assert_eq!(s, State::InvalidFormat);
    assert!(
        m.contains("not valid base64url") || m.contains("not valid JSON"),
        "{m}"
    );
    let (s, _) = iam_state("onlyonepart", WITH_KEY);
    assert_eq!(s, State::InvalidFormat);
}
