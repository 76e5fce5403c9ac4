//! Who is calling: one token scheme for the services' identity, end users and the operator.
//!
//! A token is `tm1.<claims>.<signature>`: the claims (`iss`, `sub`, `iat`, `exp`) as base64url
//! JSON, signed with Ed25519 by the issuer's key. Each principal (the five services and
//! `admin`) has a key pair in the keys directory: its private key is read by its own process
//! only, the public keys by everyone. So a service proves who it is on every call, and a
//! compromised payment service cannot pass itself off as the order service to release stock.
//! End users get tokens for themselves from the user service (`sub` = `user:<id>`), issued on
//! registration or by the operator (`tracemart token`).
//!
//! Why signed tokens rather than mTLS: they work the same on one machine under `up` and in a
//! Kubernetes cluster over plain in-cluster HTTP (a mesh may add mTLS underneath, and nothing
//! here needs to change), they need no certificate authority or rotation machinery, and they
//! carry the caller's identity to the handler, which decides ownership (only the service that
//! made a reservation may commit or release it). Ed25519 rather than a shared HMAC secret:
//! with a shared secret every holder could mint every identity.

pub mod guard;
pub mod keys;
pub mod token;

pub use guard::{Allow, Authenticator, Caller, authenticate, restrict, strip_client_baggage};
pub use keys::{KeyError, KeyRing, Principal, ensure_keys, signing_key};
pub use token::{Claims, Signer, TokenError, Verifier, issue};

use std::path::Path;
use std::sync::Arc;

/// A service's identity: the signer of its own tokens, and the checker of its callers'.
#[derive(Clone)]
pub struct Identity {
    pub signer: Arc<Signer>,
    pub auth: Arc<Authenticator>,
}

impl Identity {
    /// Creates the missing key pairs in `keys_dir` and loads `principal`'s.
    pub fn load(
        keys_dir: &Path,
        principal: Principal,
        require_tokens: bool,
    ) -> Result<Self, KeyError> {
        ensure_keys(keys_dir)?;
        let key = signing_key(keys_dir, principal)?;
        Ok(Self {
            signer: Arc::new(Signer::new(principal, key)),
            auth: Arc::new(Authenticator {
                verifier: Verifier::new(KeyRing::open(keys_dir)),
                require_tokens,
            }),
        })
    }
}
