//! XNAI IAM: a short-lived JWT, verified with the configured key.

use super::{EnvVar, FieldSpec, Inspection, Problem, ProblemKind, Provider, inspect_first_present};
use crate::config::Account;
use crate::instance::Instance;
use crate::token::jwt::{self, VerifyError, VerifyKey};

/// XNAI IAM.
#[derive(Debug)]
pub struct XnaiIam;

const FIELDS: &[FieldSpec] = &[
    FieldSpec::secret("access_token"),
    FieldSpec::secret("jwt_secret"),
    FieldSpec::path("public_key_path"),
    FieldSpec::path("jwks_path"),
];

impl Provider for XnaiIam {
    fn id(&self) -> &'static str {
        "xnai_iam"
    }
    fn display_name(&self) -> &'static str {
        "XNAI IAM (JWT)"
    }
    fn account_fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn credential_fields(&self) -> Vec<&'static str> {
        vec!["access_token"]
    }
    fn environment(&self, account: &Account, _instance: &Instance) -> Vec<EnvVar> {
        account
            .secret("access_token")
            .map(|s| vec![EnvVar::secret("XNAI_IAM_ACCESS_TOKEN", &s.value)])
            .unwrap_or_default()
    }
    fn conflicting_env(&self) -> &'static [&'static str] {
        &["XNAI_IAM_ACCESS_TOKEN"]
    }
    fn inspect(&self, account: &Account) -> Inspection {
        inspect_first_present(account, self, |_, value| {
            let info = match jwt::inspect(value) {
                Ok(info) => info,
                Err(reason) => {
                    return Inspection {
                        problem: Some(Problem::new(ProblemKind::InvalidFormat, reason)),
                        ..Inspection::default()
                    };
                }
            };
            let mut ins = Inspection {
                recognised: Some(format!("JWT ({})", info.alg)),
                token_expires_at: info.exp,
                not_before: info.nbf,
                details: claim_details(&info),
                ..Inspection::default()
            };
            ins.problem = match load_keys(account) {
                Err(e) => Some(Problem::new(ProblemKind::Error, e)),
                Ok(keys) if keys.is_empty() => Some(Problem::new(
                    ProblemKind::Unverifiable,
                    "signature not verified: no key configured (set public_key_path, jwks_path or jwt_secret)",
                )),
                Ok(keys) => match jwt::verify(value, &info, &keys) {
                    Ok(by) => {
                        ins.recognised = Some(format!("JWT ({}), signature verified", info.alg));
                        ins.details.push(("verified with".to_string(), by));
                        None
                    }
                    Err(VerifyError::UnsupportedAlgorithm(m)) => {
                        Some(Problem::new(ProblemKind::InvalidFormat, m))
                    }
                    Err(e) => Some(Problem::new(ProblemKind::InvalidSignature, e.to_string())),
                },
            };
            ins
        })
    }
}

fn load_keys(account: &Account) -> Result<Vec<VerifyKey>, String> {
    let mut keys = Vec::new();
    if let Some(p) = account.setting("public_key_path") {
        keys.push(jwt::key_from_pem_file(std::path::Path::new(&p.value))?);
    }
    if let Some(p) = account.setting("jwks_path") {
        keys.extend(jwt::keys_from_jwks_file(std::path::Path::new(&p.value))?);
    }
    if let Some(s) = account.secret("jwt_secret")
        && !s.value.is_blank()
    {
        keys.push(jwt::key_from_secret(&s.value)?);
    }
    Ok(keys)
}

fn claim_details(info: &jwt::JwtInfo) -> Vec<(String, String)> {
    let mut d = vec![("alg".to_string(), info.alg.clone())];
    if let Some(k) = &info.kid {
        d.push(("kid".to_string(), k.clone()));
    }
    if let Some(v) = &info.iss {
        d.push(("iss".to_string(), v.clone()));
    }
    if let Some(v) = &info.sub {
        d.push(("sub".to_string(), v.clone()));
    }
    if !info.aud.is_empty() {
        d.push(("aud".to_string(), info.aud.join(",")));
    }
    if let Some(v) = info.iat {
        d.push(("iat".to_string(), v.to_string()));
    }
    if let Some(v) = info.nbf {
        d.push(("nbf".to_string(), v.to_string()));
    }
    if let Some(v) = info.exp {
        d.push(("exp".to_string(), v.to_string()));
    }
    d
}
