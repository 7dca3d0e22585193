//! Bearer tokens: generation (32 bytes from the OS generator, "bp_" + hex),
//! hashing (sha256; only the hash is stored) and checking a presented
//! token against the stored hashes in constant time. What a role may do is
//! decided here too.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{ApiTokenRecord, TokenRole};

pub const TOKEN_PREFIX: &str = "bp_";

#[derive(Debug, thiserror::Error)]
#[error("cannot read random bytes from the operating system for a token: {0}")]
pub struct RandomError(String);

/// A new token: "bp_" followed by 32 random bytes in hex.
pub fn generate_token() -> Result<String, RandomError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// sha256 of the token text, hex: what the database keeps.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The token in an `Authorization: Bearer …` header value, if well formed.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    (!token.is_empty()).then_some(token)
}

/// The active token whose hash matches, comparing every stored hash in
/// constant time (no early exit on the first differing byte, and every
/// candidate is compared).
pub fn find_token<'a>(presented: &str, active: &'a [ApiTokenRecord]) -> Option<&'a ApiTokenRecord> {
    let hash = hash_token(presented);
    let mut found = None;
    for t in active {
        if bool::from(t.token_hash.as_bytes().ct_eq(hash.as_bytes())) {
            found = Some(t);
        }
    }
    found
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token: liveness and readiness probes, static assets.
    Open,
    /// A viewer or admin token, unless the status is public.
    Read,
    /// An admin token, always.
    Write,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// 401: no token, or one that is unknown or revoked.
    Unauthenticated(&'static str),
    /// 403: a valid token whose role may not do this.
    Forbidden,
}

/// Decides a request: `token` is the matched active token, `presented`
/// whether the client sent any.
pub fn authorize(
    access: Access,
    public_status: bool,
    presented: bool,
    token: Option<&ApiTokenRecord>,
) -> Result<(), Denied> {
    match access {
        Access::Open => Ok(()),
        Access::Read if public_status && !presented => Ok(()),
        _ => match token {
            None if presented => Err(Denied::Unauthenticated(
                "the token is unknown or revoked; create one with `blog-poster token create`",
            )),
            None => Err(Denied::Unauthenticated(
                "this route needs a token: send \"Authorization: Bearer <token>\" (create one with `blog-poster token create`)",
            )),
            Some(t) if access == Access::Write && t.role != TokenRole::Admin => {
                Err(Denied::Forbidden)
            }
            Some(_) => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn record(name: &str, role: TokenRole, token: &str) -> ApiTokenRecord {
        ApiTokenRecord {
            id: 1,
            name: name.into(),
            role,
            token_hash: hash_token(token),
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn tokens_are_random_prefixed_and_hash_to_64_hex() {
        let a = generate_token().expect("random");
        let b = generate_token().expect("random");
        assert_ne!(a, b);
        assert!(a.starts_with("bp_") && a.len() == 3 + 64, "{a}");
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer("Bearer bp_x"), Some("bp_x"));
        assert_eq!(bearer("bearer   bp_x "), Some("bp_x"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("bp_x"), None);
    }

    #[test]
    fn only_a_matching_token_is_found() {
        let tokens = vec![
            record("ops", TokenRole::Admin, "bp_admin"),
            record("tv", TokenRole::Viewer, "bp_viewer"),
        ];
        assert_eq!(
            find_token("bp_viewer", &tokens).map(|t| t.name.as_str()),
            Some("tv")
        );
        assert!(find_token("bp_admin_", &tokens).is_none());
        assert!(find_token("", &tokens).is_none());
    }

    #[test]
    fn roles_and_public_status_decide_access() {
        let admin = record("a", TokenRole::Admin, "x");
        let viewer = record("v", TokenRole::Viewer, "y");
        use Access::*;
        assert!(authorize(Read, false, false, None).is_err());
        assert!(authorize(Read, true, false, None).is_ok());
        assert!(matches!(
            authorize(Read, true, true, None),
            Err(Denied::Unauthenticated(_))
        ));
        assert!(authorize(Read, false, true, Some(&viewer)).is_ok());
        assert!(matches!(
            authorize(Write, true, false, None),
            Err(Denied::Unauthenticated(_))
        ));
        assert_eq!(
            authorize(Write, false, true, Some(&viewer)),
            Err(Denied::Forbidden)
        );
        assert!(authorize(Write, false, true, Some(&admin)).is_ok());
        assert!(authorize(Open, false, false, None).is_ok());
    }
}
