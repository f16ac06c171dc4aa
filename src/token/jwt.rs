//! JSON Web Tokens: decoding header and claims, and verifying signatures with `jsonwebtoken`.
//!
//! The algorithm used to verify comes from the configured key, never from the token: an RSA or
//! EC public key verifies only RS*/PS* or ES* tokens, an HMAC secret only HS* tokens. A token
//! whose header asks for another family (the classic "HS256 signed with the public key"
//! confusion) is rejected, and `alg: none` is never accepted.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use jiff::Timestamp;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::Value;

use crate::secret::Secret;

/// URL-safe base64 that tolerates padding, as some issuers emit it.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Key files are a few KiB; anything bigger is a wrong path (or a device).
const MAX_KEY_FILE_BYTES: u64 = 1024 * 1024;

/// The decoded, unverified contents of a JWT.
#[derive(Debug, Clone, Default)]
pub struct JwtInfo {
    /// The header's `alg`.
    pub alg: String,
    /// The header's `typ`.
    pub typ: Option<String>,
    /// The header's `kid`.
    pub kid: Option<String>,
    /// `exp`.
    pub exp: Option<Timestamp>,
    /// `nbf`.
    pub nbf: Option<Timestamp>,
    /// `iat`.
    pub iat: Option<Timestamp>,
    /// `iss`.
    pub iss: Option<String>,
    /// `sub`.
    pub sub: Option<String>,
    /// `aud`, as a list.
    pub aud: Vec<String>,
}

/// Decodes a JWT's header and claims without verifying it. `Err` explains the format problem.
pub fn inspect(token: &str) -> Result<JwtInfo, String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(format!(
            "a JWT has three base64url parts separated by '.', found {}",
            parts.len()
        ));
    }
    let header = decode_json_object(parts[0], "header")?;
    let claims = decode_json_object(parts[1], "payload")?;
    let alg = match header.get("alg") {
        Some(Value::String(a)) => a.clone(),
        Some(_) => return Err("JWT header alg is not a string".to_string()),
        None => return Err("JWT header has no alg".to_string()),
    };
    // RFC 7515 4.1.11: a verifier must reject extensions it does not understand.
    if header.contains_key("crit") {
        return Err(
            "JWT header lists critical extensions (crit), which xnai does not support".to_string(),
        );
    }
    if alg.eq_ignore_ascii_case("none") {
        return Err("JWT with alg none (unsigned) is never accepted".to_string());
    }
    if parts[2].is_empty() {
        return Err("JWT has an empty signature".to_string());
    }
    if B64.decode(parts[2]).is_err() {
        return Err("JWT signature is not valid base64url".to_string());
    }
    let str_claim = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
    let aud = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    Ok(JwtInfo {
        alg,
        typ: header
            .get("typ")
            .and_then(Value::as_str)
            .map(str::to_string),
        kid: header
            .get("kid")
            .and_then(Value::as_str)
            .map(str::to_string),
        exp: numeric_date(&claims, "exp")?,
        nbf: numeric_date(&claims, "nbf")?,
        iat: numeric_date(&claims, "iat")?,
        iss: str_claim("iss"),
        sub: str_claim("sub"),
        aud,
    })
}

fn decode_json_object(part: &str, what: &str) -> Result<serde_json::Map<String, Value>, String> {
    let bytes = B64
        .decode(part)
        .map_err(|_| format!("JWT {what} is not valid base64url"))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(format!("JWT {what} is not a JSON object")),
        Err(_) => Err(format!("JWT {what} is not valid JSON")),
    }
}

fn numeric_date(
    claims: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<Timestamp>, String> {
    let Some(v) = claims.get(name) else {
        return Ok(None);
    };
    let secs = v
        .as_f64()
        .ok_or_else(|| format!("JWT claim {name} is not a number (NumericDate)"))?;
    if !secs.is_finite() {
        return Err(format!("JWT claim {name} is not a finite number"));
    }
    // Fractions of a second are allowed by RFC 7519; truncating them is harmless here.
    let whole = secs.trunc();
    if !(-377_705_116_800.0..=253_402_207_200.0).contains(&whole) {
        let hint = if (1e11..=2.6e14).contains(&whole.abs()) {
            " (milliseconds? JWT NumericDate is in seconds)"
        } else {
            ""
        };
        return Err(format!("JWT claim {name} is out of range{hint}"));
    }
    Timestamp::from_second(whole as i64)
        .map(Some)
        .map_err(|_| format!("JWT claim {name} is out of range"))
}

/// A key that can verify signatures, with the algorithms it is allowed to verify.
pub struct VerifyKey {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
    kid: Option<String>,
    /// Where the key came from, for messages ("RSA public key from keys/iam.pem").
    pub description: String,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("algorithms", &self.algorithms)
            .field("kid", &self.kid)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

const RSA_ALGS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];
const HMAC_ALGS: &[Algorithm] = &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

fn family_name(f: AlgorithmFamily) -> &'static str {
    match f {
        AlgorithmFamily::Hmac => "an HMAC secret",
        AlgorithmFamily::Rsa => "an RSA public key",
        AlgorithmFamily::Ec => "an EC public key",
        AlgorithmFamily::Ed => "an Ed25519 public key",
    }
}

/// Loads a PEM public key (RSA, EC P-256/P-384 or Ed25519).
pub fn key_from_pem_file(path: &Path) -> Result<VerifyKey, String> {
    let pem = crate::fsutil::read_regular(path, MAX_KEY_FILE_BYTES)
        .map_err(|e| format!("cannot read public key {}: {e}", path.display()))?;
    let shown = path.display();
    if pem.windows(11).any(|w| w == b"PRIVATE KEY") {
        return Err(format!(
            "{shown} holds a PRIVATE key: configure the public key instead \
             (openssl pkey -in {shown} -pubout), and keep the private key out of xnai's config"
        ));
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
        return Ok(VerifyKey {
            key,
            algorithms: RSA_ALGS.to_vec(),
            kid: None,
            description: format!("RSA public key {shown}"),
        });
    }
    if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
        return Ok(VerifyKey {
            key,
            algorithms: vec![Algorithm::ES256, Algorithm::ES384],
            kid: None,
            description: format!("EC public key {shown}"),
        });
    }
    if let Ok(key) = DecodingKey::from_ed_pem(&pem) {
        return Ok(VerifyKey {
            key,
            algorithms: vec![Algorithm::EdDSA],
            kid: None,
            description: format!("Ed25519 public key {shown}"),
        });
    }
    Err(format!(
        "{shown} is not a PEM public key (expected -----BEGIN PUBLIC KEY----- with an RSA, EC or Ed25519 key)"
    ))
}

/// Loads a JWK or a JWKS (`{"keys": [...]}`) file.
pub fn keys_from_jwks_file(path: &Path) -> Result<Vec<VerifyKey>, String> {
    let text = crate::fsutil::read_regular(path, MAX_KEY_FILE_BYTES)
        .map_err(|e| format!("cannot read JWKS {}: {e}", path.display()))?;
    let shown = path.display().to_string();
    let value: Value = serde_json::from_slice(&text).map_err(|e| {
        format!(
            "{shown} is not JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let jwks: Vec<Jwk> = if value.get("keys").is_some() {
        serde_json::from_value::<JwkSet>(value)
            .map_err(|_| format!("{shown} is not a valid JWK or JWKS (check kty, n/e, crv/x/y)"))?
            .keys
    } else if value.get("kty").is_some() {
        vec![
            serde_json::from_value::<Jwk>(value).map_err(|_| {
                format!("{shown} is not a valid JWK or JWKS (check kty, n/e, crv/x/y)")
            })?,
        ]
    } else {
        return Err(format!(
            "{shown} is not a JWK or JWKS (expected a \"keys\" list or a \"kty\" member)"
        ));
    };
    if jwks.is_empty() {
        return Err(format!("{shown} holds no keys"));
    }
    let mut keys = Vec::new();
    for (i, jwk) in jwks.iter().enumerate() {
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| format!("{shown}: key {} cannot be used: {e}", i + 1))?;
        let algorithms = match (&jwk.algorithm, jwk.common.key_algorithm) {
            // A JWK may pin its algorithm; honour it, but only within the key's own family.
            (_, Some(ka)) => {
                let alg: Algorithm = ka
                    .to_string()
                    .parse()
                    .map_err(|_| format!("{shown}: key {} has unsupported alg", i + 1))?;
                if alg.family() != key.family() {
                    return Err(format!(
                        "{shown}: key {} says alg {alg:?} but is {}",
                        i + 1,
                        family_name(key.family())
                    ));
                }
                vec![alg]
            }
            (AlgorithmParameters::RSA(_), None) => RSA_ALGS.to_vec(),
            (AlgorithmParameters::EllipticCurve(p), None) => match p.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => return Err(format!("{shown}: key {} uses an unsupported curve", i + 1)),
            },
            (AlgorithmParameters::OctetKeyPair(_), None) => vec![Algorithm::EdDSA],
            (AlgorithmParameters::OctetKey(_), None) => HMAC_ALGS.to_vec(),
            _ => return Err(format!("{shown}: key {} has an unsupported type", i + 1)),
        };
        let family = key.family();
        keys.push(VerifyKey {
            description: format!(
                "{} from {shown}{}",
                match family {
                    AlgorithmFamily::Hmac => "HMAC key",
                    AlgorithmFamily::Rsa => "RSA key",
                    AlgorithmFamily::Ec => "EC key",
                    AlgorithmFamily::Ed => "Ed25519 key",
                },
                jwk.common
                    .key_id
                    .as_deref()
                    .map(|k| format!(" (kid {k})"))
                    .unwrap_or_default()
            ),
            key,
            algorithms,
            kid: jwk.common.key_id.clone(),
        });
    }
    Ok(keys)
}

/// An HMAC shared secret (HS256/384/512).
pub fn key_from_secret(secret: &Secret) -> Result<VerifyKey, String> {
    if secret.is_blank() {
        return Err("jwt_secret is empty".to_string());
    }
    let key = DecodingKey::from_secret(secret.expose().as_bytes())
        .map_err(|e| format!("jwt_secret cannot be used: {e}"))?;
    Ok(VerifyKey {
        key,
        algorithms: HMAC_ALGS.to_vec(),
        kid: None,
        description: "HMAC secret jwt_secret".to_string(),
    })
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The token's alg is not one the configured keys may verify.
    AlgorithmRejected(String),
    /// A key of the right kind was found and the signature does not match it.
    BadSignature(String),
    /// The token names a `kid` that no configured key has.
    NoMatchingKey(String),
    /// The token's alg is unknown.
    UnsupportedAlgorithm(String),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::AlgorithmRejected(m)
            | VerifyError::BadSignature(m)
            | VerifyError::NoMatchingKey(m)
            | VerifyError::UnsupportedAlgorithm(m) => f.write_str(m),
        }
    }
}

/// Verifies `token`'s signature against `keys`. `Ok` names the key that verified it.
pub fn verify(token: &str, info: &JwtInfo, keys: &[VerifyKey]) -> Result<String, VerifyError> {
    let alg: Algorithm = info.alg.parse().map_err(|_| {
        VerifyError::UnsupportedAlgorithm(format!("JWT alg {} is not supported", info.alg))
    })?;
    let mut candidates: Vec<&VerifyKey> = keys.iter().collect();
    if let Some(kid) = &info.kid
        && keys.iter().any(|k| k.kid.is_some())
    {
        candidates.retain(|k| k.kid.as_deref() == Some(kid.as_str()));
        if candidates.is_empty() {
            return Err(VerifyError::NoMatchingKey(format!(
                "no configured key has the token's kid {kid}"
            )));
        }
    }
    let usable: Vec<&VerifyKey> = candidates
        .iter()
        .copied()
        .filter(|k| k.algorithms.contains(&alg) && k.key.family() == alg.family())
        .collect();
    if usable.is_empty() {
        let have: Vec<&str> = candidates
            .iter()
            .map(|k| family_name(k.key.family()))
            .collect();
        let confusion = candidates.iter().any(|k| k.key.family() != alg.family());
        return Err(VerifyError::AlgorithmRejected(format!(
            "{}the token asks for {} but the configured key is {}",
            if confusion {
                "algorithm confusion rejected: "
            } else {
                "algorithm not allowed: "
            },
            info.alg,
            have.join(" / ")
        )));
    }
    let (message, signature) = match token.rsplit_once('.') {
        Some(parts) => parts,
        None => return Err(VerifyError::BadSignature("malformed JWT".to_string())),
    };
    // jsonwebtoken wants unpadded base64url.
    let signature = signature.trim_end_matches('=');
    for k in &usable {
        if let Ok(true) = jsonwebtoken::crypto::verify(signature, message.as_bytes(), &k.key, alg) {
            return Ok(k.description.clone());
        }
    }
    Err(VerifyError::BadSignature(format!(
        "signature does not match {}",
        usable
            .iter()
            .map(|k| k.description.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Encodes bytes as unpadded base64url (used to build test tokens).
pub fn b64url(bytes: &[u8]) -> String {
    general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsigned(header: &str, claims: &str, sig: &str) -> String {
        format!(
            "{}.{}.{}",
            b64url(header.as_bytes()),
            b64url(claims.as_bytes()),
            sig
        )
    }

    #[test]
    fn decodes_header_and_claims() {
        let t = unsigned(
            r#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#,
            r#"{"exp":1900000000,"nbf":1700000000.5,"iat":1700000000,"iss":"xnai-iam","sub":"u1","aud":["a","b"]}"#,
            "c2ln",
        );
        let i = inspect(&t).expect("decode");
        assert_eq!(i.alg, "RS256");
        assert_eq!(i.kid.as_deref(), Some("k1"));
        assert_eq!(i.exp.map(|t| t.as_second()), Some(1_900_000_000));
        assert_eq!(i.nbf.map(|t| t.as_second()), Some(1_700_000_000));
        assert_eq!(i.aud, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(i.iss.as_deref(), Some("xnai-iam"));
    }

    #[test]
    fn format_errors() {
        assert!(inspect("a.b").expect_err("parts").contains("found 2"));
        assert!(
            inspect("!!.e30.c2ln")
                .expect_err("b64")
                .contains("header is not valid base64url")
        );
        let not_json = format!("{}.e30.c2ln", b64url(b"nope"));
        assert!(
            inspect(&not_json)
                .expect_err("json")
                .contains("not valid JSON")
        );
        let no_alg = unsigned("{}", "{}", "c2ln");
        assert!(inspect(&no_alg).expect_err("alg").contains("no alg"));
        let bad_exp = unsigned(r#"{"alg":"HS256"}"#, r#"{"exp":"tomorrow"}"#, "c2ln");
        assert!(
            inspect(&bad_exp)
                .expect_err("exp")
                .contains("exp is not a number")
        );
        let huge = unsigned(r#"{"alg":"HS256"}"#, r#"{"exp":1e300}"#, "c2ln");
        assert!(inspect(&huge).expect_err("range").contains("out of range"));
    }

    #[test]
    fn header_and_claim_edge_cases() {
        let t = unsigned(r#"{"alg":256}"#, "{}", "c2ln");
        assert!(
            inspect(&t)
                .expect_err("alg")
                .contains("alg is not a string")
        );
        let t = unsigned(r#"{"alg":"RS256","crit":["exp"]}"#, "{}", "c2ln");
        assert!(
            inspect(&t)
                .expect_err("crit")
                .contains("critical extensions")
        );
        let t = unsigned(r#"{"alg":"RS256"}"#, r#"{"exp":4102444800000}"#, "c2ln");
        assert!(inspect(&t).expect_err("ms").contains("milliseconds?"));
    }

    #[test]
    fn alg_none_is_rejected() {
        for alg in ["none", "None", "NONE"] {
            let t = unsigned(
                &format!(r#"{{"alg":"{alg}"}}"#),
                r#"{"exp":1900000000}"#,
                "",
            );
            assert!(inspect(&t).expect_err("none").contains("alg none"));
        }
    }
}
