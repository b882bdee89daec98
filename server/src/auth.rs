//! Bearer tokens, invite codes and the authenticated member (`Principal`).
//!
//! Secrets (tokens and invite codes) are shown once and stored only as sha256 hashes, so
//! a copy of the database grants nobody access. `authenticate` is the one place a token
//! becomes a member; the WebSocket route, the HTTP API and (later) the dashboard's
//! session cookies all go through it.

use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use setlink_core::Role;

use crate::storage::{Storage, StorageError};

/// Crockford-style alphabet: no 0/O, 1/I/L, U, so codes survive being read aloud.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The member behind a request or connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub member_id: String,
    pub production_id: String,
    pub name: String,
    pub role: Role,
    pub device_id: String,
    #[serde(skip)]
    pub token_hash: String,
    pub token_expires_at_ms: i64,
}

#[derive(Debug, Error)]
pub enum AuthError {
    #[error("no token: pass `?token=...` or an `Authorization: Bearer ...` header (redeem an invite code at POST /api/redeem to get one)")]
    Missing,
    #[error("unknown token")]
    Unknown,
    #[error("this token expired; redeem a new invite code")]
    Expired,
    #[error("this token or its member has been revoked")]
    Revoked,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A fresh bearer token: 256 random bits.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("slk_{}", hex::encode(bytes))
}

/// A fresh invite code, `XXXX-XXXX-XXXX` (about 59 bits).
pub fn new_invite_code() -> String {
    let mut rng = rand::rng();
    let mut out = String::with_capacity(14);
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let k = rng.random_range(0..CODE_ALPHABET.len());
        out.push(char::from(CODE_ALPHABET[k]));
    }
    out
}

/// Codes are typed by hand: ignore case, spaces and dashes.
pub fn normalize_invite_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

pub fn hash_invite_code(code: &str) -> String {
    hash_secret(&normalize_invite_code(code))
}

/// Characters in a dashboard sign-in key (about 123 bits: hopeless to guess, so a fast
/// hash is enough, as for tokens).
const SIGNIN_KEY_LEN: usize = 25;

/// A member's reusable dashboard sign-in key, `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`: readable
/// and typeable like an invite code, and twice as long, so the two never collide.
pub fn new_signin_key() -> String {
    let mut rng = rand::rng();
    let mut out = String::with_capacity(SIGNIN_KEY_LEN + 4);
    for i in 0..SIGNIN_KEY_LEN {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        let k = rng.random_range(0..CODE_ALPHABET.len());
        out.push(char::from(CODE_ALPHABET[k]));
    }
    out
}

/// Whether what someone typed has the shape of a sign-in key (not an invite code).
pub fn is_signin_key(s: &str) -> bool {
    let n = normalize_invite_code(s);
    n.len() == SIGNIN_KEY_LEN && n.bytes().all(|b| CODE_ALPHABET.contains(&b))
}

pub fn hash_signin_key(key: &str) -> String {
    hash_secret(&normalize_invite_code(key))
}

/// Resolves a bearer token to its member, refusing unknown, expired and revoked tokens.
pub async fn authenticate(
    storage: &dyn Storage,
    token: &str,
    now_ms: i64,
) -> Result<Principal, AuthError> {
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    let hash = hash_secret(token);
    let rec = storage
        .token(hash.clone())
        .await?
        .ok_or(AuthError::Unknown)?;
    if rec.revoked_at_ms.is_some() {
        return Err(AuthError::Revoked);
    }
    if rec.expires_at_ms <= now_ms {
        return Err(AuthError::Expired);
    }
    let member = storage
        .member(rec.member_id.clone())
        .await?
        .ok_or(AuthError::Unknown)?;
    if member.revoked_at_ms.is_some() {
        return Err(AuthError::Revoked);
    }
    Ok(Principal {
        member_id: member.id,
        production_id: member.production_id,
        name: member.name,
        role: member.role,
        device_id: rec.device_id,
        token_hash: hash,
        token_expires_at_ms: rec.expires_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invite_codes_are_readable_and_normalise() {
        let c = new_invite_code();
        assert_eq!(c.len(), 14);
        assert_eq!(c.matches('-').count(), 2);
        assert!(c
            .chars()
            .all(|ch| ch == '-' || CODE_ALPHABET.contains(&(ch as u8))));
        let typed = c.to_lowercase().replace('-', " ");
        assert_eq!(hash_invite_code(&typed), hash_invite_code(&c));
        assert_ne!(hash_invite_code(&new_invite_code()), hash_invite_code(&c));
    }

    #[test]
    fn signin_keys_are_not_invite_codes() {
        let k = new_signin_key();
        assert_eq!(k.len(), 29);
        assert!(is_signin_key(&k) && is_signin_key(&k.to_lowercase().replace('-', " ")));
        assert_eq!(hash_signin_key(&k.to_lowercase()), hash_signin_key(&k));
        assert!(!is_signin_key(&new_invite_code()));
        assert!(!is_signin_key(&new_token()));
    }

    #[test]
    fn tokens_are_random_and_hash_is_not_the_token() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("slk_") && a.len() == 68);
        let h = hash_secret(&a);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&a[4..]));
    }
}
