//! Dashboard sessions, the session cookie, CSRF tokens and the cross-site check.
//!
//! The cookie carries 256 random bits; storage keeps only their sha256 (a copy of the
//! database cannot be replayed as a cookie). Sessions are stored, so a relay restart
//! signs nobody out; they expire after `SESSION_TTL`, and a revoked member's are
//! refused (and then deleted). Every request re-checks the member (and the bearer token, for a session opened
//! with one) in storage.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::Extension;
use rand::Rng;
use setlink_core::Role;

use super::{DashError, Dashboard};
use crate::auth::{hash_secret, now_ms};
use crate::http::AppState;
use crate::storage::{DashSession, Member, Storage, StorageError};

pub const COOKIE: &str = "setlink_session";
/// A dashboard session lasts a working day (and a bit): coordinators sign in each morning.
pub const SESSION_TTL: Duration = Duration::from_secs(14 * 3600);

/// A signed-in member.
#[derive(Clone, Debug)]
pub struct Session {
    pub member_id: String,
    pub production_id: String,
    pub name: String,
    pub role: Role,
    /// The device id the dashboard writes under (`dashboard-...`), so history shows it.
    pub device_id: String,
    pub csrf: String,
    pub expires_at_ms: i64,
}

impl Session {
    pub fn author(&self) -> setlink_core::Author {
        setlink_core::Author {
            member_id: self.member_id.clone(),
            device_id: self.device_id.clone(),
            role: self.role,
        }
    }
    pub fn is_coordinator(&self) -> bool {
        self.role == Role::Coordinator
    }
}

pub fn random_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// Why a stored session does not stand.
#[derive(Debug)]
pub enum SessionError {
    /// No such session, or it expired.
    None,
    /// Its member (or the token it was opened with) was revoked or expired.
    Revoked,
    Storage(StorageError),
}

impl From<StorageError> for SessionError {
    fn from(e: StorageError) -> Self {
        SessionError::Storage(e)
    }
}

/// Dashboard sessions, kept in the relay's storage.
pub struct Sessions;

impl Sessions {
    /// Opens a session for `member`; returns the cookie value (shown once, stored hashed).
    pub async fn open(
        storage: &dyn Storage,
        member: &Member,
        device_id: String,
        token_hash: Option<String>,
    ) -> Result<String, StorageError> {
        let secret = random_secret();
        let now = now_ms();
        storage
            .create_session(DashSession {
                secret_hash: hash_secret(&secret),
                member_id: member.id.clone(),
                device_id,
                token_hash,
                csrf: random_secret(),
                created_at_ms: now,
                expires_at_ms: now.saturating_add(SESSION_TTL.as_millis() as i64),
            })
            .await?;
        Ok(secret)
    }

    /// The session a cookie names, if it stands: not expired, its member not revoked, and
    /// the bearer token it was opened with (if any) still valid.
    pub async fn get(storage: &dyn Storage, secret: &str) -> Result<Session, SessionError> {
        let now = now_ms();
        let stored = storage
            .session(hash_secret(secret))
            .await?
            .filter(|s| s.expires_at_ms > now)
            .ok_or(SessionError::None)?;
        let member = storage
            .member(stored.member_id.clone())
            .await?
            .filter(|m| m.revoked_at_ms.is_none())
            .ok_or(SessionError::Revoked)?;
        if let Some(t) = &stored.token_hash {
            let token = storage.token(t.clone()).await?;
            if !token.is_some_and(|t| t.revoked_at_ms.is_none() && t.expires_at_ms > now) {
                return Err(SessionError::Revoked);
            }
        }
        Ok(Session {
            member_id: member.id,
            production_id: member.production_id,
            name: member.name,
            role: member.role,
            device_id: stored.device_id,
            csrf: stored.csrf,
            expires_at_ms: stored.expires_at_ms,
        })
    }

    pub async fn close(storage: &dyn Storage, secret: &str) -> Result<(), StorageError> {
        storage.delete_session(hash_secret(secret)).await
    }
}

/// The session cookie's value from a request, if any.
pub fn cookie_secret(headers: &HeaderMap) -> Option<String> {
    for v in headers.get_all(header::COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        for part in v.split(';') {
            if let Some((k, val)) = part.trim().split_once('=') {
                if k == COOKIE && !val.is_empty() {
                    return Some(val.to_owned());
                }
            }
        }
    }
    None
}

/// Loopback hosts are the one place a browser keeps a cookie without TLS; anywhere else
/// the cookie is `Secure` and the dashboard must sit behind HTTPS.
fn is_loopback_host(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    matches!(name, "localhost" | "127.0.0.1" | "::1")
}

pub fn set_cookie(headers: &HeaderMap, secret: &str) -> String {
    let secure = if is_loopback_host(headers) {
        ""
    } else {
        "; Secure"
    };
    format!(
        "{COOKIE}={secret}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        SESSION_TTL.as_secs()
    )
}

pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Refuses requests a browser marks as coming from another site. `Origin` must name this
/// host; `Sec-Fetch-Site: cross-site` is refused outright. Non-browser clients that send
/// neither still need the session cookie and the CSRF token.
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), DashError> {
    let refuse = |why: String| {
        DashError::forbidden(format!(
            "cross-site request refused ({why}); submit the form from the dashboard itself. Nothing was changed."
        ))
    };
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site.eq_ignore_ascii_case("cross-site") {
            return Err(refuse("Sec-Fetch-Site: cross-site".into()));
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    if host.is_empty() || origin_host != host {
        return Err(refuse(format!("Origin `{origin}` is not this dashboard")));
    }
    Ok(())
}

/// Compares without an early exit, so response time does not leak how much matched.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the handlers need besides the session.
pub struct Ctx {
    pub session: Session,
    pub state: AppState,
    pub dash: Arc<Dashboard>,
    /// The production's time zone: every time shown or typed in is in it.
    pub zone: crate::zone::Zone,
}

impl Ctx {
    /// `day` from a query or form, or today in the production's zone when none is given.
    pub fn day(&self, raw: Option<&str>) -> Result<String, DashError> {
        super::data::parse_day(raw, &self.state.settings.today, &self.zone)
    }

    /// Now, from the relay's clock (pinned by `serve --today INSTANT`).
    pub fn now_ms(&self) -> i64 {
        self.state.settings.today.now_ms()
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = DashError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, DashError> {
        let Extension(dash) = Extension::<Arc<Dashboard>>::from_request_parts(parts, state)
            .await
            .map_err(|e| DashError::internal(e.to_string()))?;
        dash.start_watcher(&state.hub);
        let session = authenticate(&parts.headers, state, &dash).await?;
        if parts.method != Method::GET && parts.method != Method::HEAD {
            check_same_origin(&parts.headers)?;
        }
        let zone = super::data::production_zone(state, &session.production_id).await;
        Ok(Ctx {
            session,
            state: state.clone(),
            dash,
            zone,
        })
    }
}

/// Who is signed in: refuses with 401 and a sign-in link when nobody (or a revoked
/// member) is.
async fn authenticate(
    headers: &HeaderMap,
    state: &AppState,
    _dash: &Dashboard,
) -> Result<Session, DashError> {
    let signed_out = || {
        DashError::new(
            StatusCode::UNAUTHORIZED,
            "you are not signed in (or your session ended); sign in at /dashboard/signin",
        )
    };
    let secret = cookie_secret(headers).ok_or_else(signed_out)?;
    let storage = state.storage().as_ref();
    match Sessions::get(storage, &secret).await {
        Ok(s) => Ok(s),
        Err(SessionError::None) => Err(signed_out()),
        Err(SessionError::Revoked) => {
            let _ = Sessions::close(storage, &secret).await;
            Err(DashError::new(
                StatusCode::UNAUTHORIZED,
                "your access to this production was revoked or has expired; ask a coordinator for a new invite code",
            ))
        }
        Err(SessionError::Storage(e)) => Err(DashError::internal(e)),
    }
}

impl Ctx {
    /// Coordinators and the office: the board (runs and tasks) and acknowledgements.
    pub fn require_office(&self) -> Result<(), DashError> {
        match self.session.role {
            Role::Coordinator | Role::Office => Ok(()),
            r => Err(refuse_role(r, "use the production office's board")),
        }
    }

    /// Coordinators only: call sheet drafts and publishing. `action` completes
    /// "an office member may not ...".
    pub fn require_coordinator(&self, action: &str) -> Result<(), DashError> {
        match self.session.role {
            Role::Coordinator => Ok(()),
            r => Err(refuse_role(r, action)),
        }
    }

    /// Checks a submitted CSRF token against the session's.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), DashError> {
        if same_secret(submitted, &self.session.csrf) {
            Ok(())
        } else {
            Err(DashError::forbidden(
                "the form's security token is missing or stale (was the page open in another session?); reload the page and try again. Nothing was changed.",
            ))
        }
    }
}

fn refuse_role(role: Role, action: &str) -> DashError {
    let (who, hint) = match role {
        Role::Pa => ("a PA", "PAs see their runs in the setlink app"),
        Role::Crew => (
            "a crew member",
            "crew see the call sheet in the setlink app",
        ),
        Role::Office => ("an office member", "ask a coordinator"),
        Role::Coordinator => ("a coordinator", "ask the relay's administrator"),
    };
    DashError::forbidden(format!(
        "{who} may not {action}; {hint}. Nothing was changed."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_check() {
        assert!(check_same_origin(&headers(&[("host", "127.0.0.1:9000")])).is_ok());
        assert!(check_same_origin(&headers(&[
            ("host", "127.0.0.1:9000"),
            ("origin", "http://127.0.0.1:9000")
        ]))
        .is_ok());
        assert!(check_same_origin(&headers(&[
            ("host", "127.0.0.1:9000"),
            ("origin", "http://evil.example")
        ]))
        .is_err());
        assert!(
            check_same_origin(&headers(&[("host", "127.0.0.1:9000"), ("origin", "null")])).is_err()
        );
        assert!(check_same_origin(&headers(&[
            ("host", "127.0.0.1:9000"),
            ("sec-fetch-site", "cross-site")
        ]))
        .is_err());
    }

    #[test]
    fn cookies_are_strict_and_secure_off_loopback() {
        let local = set_cookie(&headers(&[("host", "127.0.0.1:9000")]), "abc");
        assert!(local.contains("HttpOnly") && local.contains("SameSite=Strict"));
        assert!(!local.contains("Secure"));
        let remote = set_cookie(&headers(&[("host", "dash.example.com")]), "abc");
        assert!(remote.ends_with("; Secure"));
        let h = headers(&[("cookie", "a=b; setlink_session=xyz; c=d")]);
        assert_eq!(cookie_secret(&h).as_deref(), Some("xyz"));
    }

    #[test]
    fn csrf_compare() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("", "abc"));
    }
}
