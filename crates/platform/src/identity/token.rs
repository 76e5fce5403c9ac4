//! Making and checking tokens: `tm1.<claims>.<signature>` (see the module above).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::http::HeaderValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _};
use serde::{Deserialize, Serialize};

use super::keys::{KeyRing, Principal};
use crate::ServiceName;

const PREFIX: &str = "tm1.";
/// Clocks of processes on different machines may disagree by this much.
const CLOCK_SKEW_SECS: i64 = 60;
/// Lifetime of the tokens a service sends with its calls; a new one is made when a quarter is
/// left, so a token in flight never expires on the way.
const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Checked tokens remembered (a service reuses its token for minutes: one signature check per
/// token, not per call). Past this many the memory starts afresh.
const VERIFIED_CACHE: usize = 4096;

/// What a token says: who issued it, about whom, and when it stops being valid (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a tracemart token")]
    Malformed,
    #[error("the token's issuer {0:?} has no known key")]
    UnknownIssuer(String),
    #[error("the token's signature does not match its issuer's key")]
    BadSignature,
    #[error("the token expired")]
    Expired,
    #[error("{issuer} may not issue tokens for {subject:?}")]
    NotIssuable { issuer: String, subject: String },
}

/// Makes the tokens of one principal.
pub struct Signer {
    principal: Principal,
    key: SigningKey,
    /// The current service token as an `Authorization` value, and when it expires.
    current: Mutex<Option<(HeaderValue, i64)>>,
}

impl Signer {
    pub fn new(principal: Principal, key: SigningKey) -> Self {
        Self {
            principal,
            key,
            current: Mutex::new(None),
        }
    }

    pub fn principal(&self) -> Principal {
        self.principal
    }

    /// A token about `subject`, valid for `ttl` from now.
    pub fn issue(&self, subject: &str, ttl: Duration) -> String {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: self.principal.name().to_owned(),
            sub: subject.to_owned(),
            iat: now,
            exp: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
        };
        // Serialising four plain fields cannot fail.
        let json = serde_json::to_vec(&claims).unwrap_or_default();
        let signed = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json));
        let signature = self.key.sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// `Bearer <token>` of this principal as itself, for an `Authorization` header: made once
    /// and sent with every call until it is renewed, before it runs out.
    pub fn authorization(&self) -> HeaderValue {
        let now = Utc::now().timestamp();
        let renew_before = i64::try_from(SERVICE_TOKEN_TTL.as_secs() / 4).unwrap_or(0);
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((value, exp)) = current.as_ref()
            && exp - now > renew_before
        {
            return value.clone();
        }
        let token = self.issue(self.principal.name(), SERVICE_TOKEN_TTL);
        // base64url and dots: always a valid header value.
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .unwrap_or(HeaderValue::from_static("Bearer"));
        *current = Some((value.clone(), now + SERVICE_TOKEN_TTL.as_secs() as i64));
        value
    }
}

/// A token of `issuer` about `subject`, signed with the issuer's key from `keys_dir` (for
/// tools and tests: a running service signs with its own [`Signer`]).
pub fn issue(
    keys_dir: &std::path::Path,
    issuer: Principal,
    subject: &str,
    ttl: Duration,
) -> Result<String, super::KeyError> {
    let key = super::keys::signing_key(keys_dir, issuer)?;
    Ok(Signer::new(issuer, key).issue(subject, ttl))
}

/// Checks tokens against the key ring.
pub struct Verifier {
    keys: KeyRing,
    verified: Mutex<HashMap<String, Claims>>,
}

impl Verifier {
    pub fn new(keys: KeyRing) -> Self {
        Self {
            keys,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The claims of `token` if its signature is its issuer's, it has not expired, and its
    /// issuer may speak for its subject.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let now = Utc::now().timestamp();
        let known = self
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned();
        let claims = match known {
            Some(claims) => claims,
            None => {
                let claims = self.check_signature(token)?;
                let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
                if verified.len() >= VERIFIED_CACHE {
                    verified.clear();
                }
                verified.insert(token.to_owned(), claims.clone());
                claims
            }
        };
        if claims.exp + CLOCK_SKEW_SECS < now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    fn check_signature(&self, token: &str) -> Result<Claims, TokenError> {
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let encoded = signed.strip_prefix(PREFIX).ok_or(TokenError::Malformed)?;
        let json = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        let signature: [u8; 64] = URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(TokenError::Malformed)?;
        let key = self
            .keys
            .verifying_key(&claims.iss)
            .ok_or_else(|| TokenError::UnknownIssuer(claims.iss.clone()))?;
        key.verify(signed.as_bytes(), &Signature::from_bytes(&signature))
            .map_err(|_| TokenError::BadSignature)?;
        if !may_issue(&claims.iss, &claims.sub) {
            return Err(TokenError::NotIssuable {
                issuer: claims.iss,
                subject: claims.sub,
            });
        }
        Ok(claims)
    }
}

/// A service speaks for itself, the user service also for users, the operator for itself.
fn may_issue(issuer: &str, subject: &str) -> bool {
    issuer == subject
        || (issuer == ServiceName::User.service_name()
            && subject
                .strip_prefix("user:")
                .and_then(|id| id.parse::<i64>().ok())
                .is_some_and(|id| id > 0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::identity::keys::{ensure_keys, signing_key};

    fn setup() -> (tempfile::TempDir, Verifier) {
        let dir = tempfile::tempdir().unwrap();
        ensure_keys(dir.path()).unwrap();
        let verifier = Verifier::new(KeyRing::open(dir.path()));
        (dir, verifier)
    }

    fn signer(dir: &tempfile::TempDir, p: Principal) -> Signer {
        Signer::new(p, signing_key(dir.path(), p).unwrap())
    }

    #[test]
    fn a_service_token_names_its_service_and_is_reused_until_renewal() {
        let (dir, verifier) = setup();
        let order = signer(&dir, Principal::Service(ServiceName::Order));
        let header = order.authorization();
        assert_eq!(order.authorization(), header);
        let token = header.to_str().unwrap().strip_prefix("Bearer ").unwrap();
        let claims = verifier.verify(token).unwrap();
        assert_eq!(
            (claims.iss.as_str(), claims.sub.as_str()),
            ("order-service", "order-service")
        );
    }

    #[test]
    fn forged_altered_expired_or_overreaching_tokens_are_refused() {
        let (dir, verifier) = setup();
        let payment = signer(&dir, Principal::Service(ServiceName::Payment));
        let users = signer(&dir, Principal::Service(ServiceName::User));

        // Payment claims to be order: signed with payment's key, so order's key refuses it.
        let honest = payment.issue("payment-service", Duration::from_secs(60));
        let (signed, signature) = honest.rsplit_once('.').unwrap();
        let claims = r#"{"iss":"order-service","sub":"order-service","iat":0,"exp":9999999999}"#;
        let forged = format!("{PREFIX}{}.{signature}", URL_SAFE_NO_PAD.encode(claims));
        assert_eq!(verifier.verify(&forged), Err(TokenError::BadSignature));
        assert!(signed.starts_with(PREFIX));

        assert_eq!(
            verifier.verify(&payment.issue("user:7", Duration::from_secs(60))),
            Err(TokenError::NotIssuable {
                issuer: "payment-service".into(),
                subject: "user:7".into()
            })
        );
        assert_eq!(
            verifier
                .verify(&payment.issue("payment-service", Duration::ZERO))
                .map(|_| ()),
            Ok(()),
            "within the allowed clock skew"
        );
        let expired = {
            let claims = format!(
                r#"{{"iss":"user-service","sub":"user:7","iat":0,"exp":{}}}"#,
                Utc::now().timestamp() - 2 * CLOCK_SKEW_SECS
            );
            let signed = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(claims));
            let key = signing_key(dir.path(), Principal::Service(ServiceName::User)).unwrap();
            format!(
                "{signed}.{}",
                URL_SAFE_NO_PAD.encode(key.sign(signed.as_bytes()).to_bytes())
            )
        };
        assert_eq!(verifier.verify(&expired), Err(TokenError::Expired));
        assert_eq!(
            verifier.verify("Bearer nonsense"),
            Err(TokenError::Malformed)
        );
        let user = verifier
            .verify(&users.issue("user:7", Duration::from_secs(60)))
            .unwrap();
        assert_eq!(user.sub, "user:7");
    }
}
