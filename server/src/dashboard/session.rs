//! Dashboard sessions, the session cookie, CSRF tokens and the cross-site check.
//!
//! The cookie carries 256 random bits; the relay keeps only their sha256, so a memory
//! dump of the session table cannot be replayed as a cookie. Sessions live in memory:
//! a relay restart signs everyone out, which costs a coordinator one sign-in and spares
//! a table of live credentials on disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::Extension;
use rand::Rng;
use setlink_core::Role;

use super::{DashError, Dashboard};
use crate::auth::{hash_secret, now_ms};
use crate::http::AppState;

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
    /// The bearer token the sign-in used, by hash: re-checked on every request.
    pub token_hash: String,
    pub csrf: String,
    pub expires: Instant,
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

#[derive(Default)]
pub struct Sessions {
    by_hash: Mutex<HashMap<String, Session>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each critical section is one insert/remove/get, so a poisoned map is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn random_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

impl Sessions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens a session; returns the cookie value (shown once, kept only hashed).
    pub fn open(&self, mut s: Session) -> String {
        let secret = random_secret();
        s.csrf = random_secret();
        s.expires = Instant::now() + SESSION_TTL;
        let mut map = lock(&self.by_hash);
        let now = Instant::now();
        map.retain(|_, v| v.expires > now);
        map.insert(hash_secret(&secret), s);
        secret
    }

    pub fn get(&self, secret: &str) -> Option<Session> {
        let map = lock(&self.by_hash);
        map.get(&hash_secret(secret))
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    pub fn close(&self, secret: &str) {
        lock(&self.by_hash).remove(&hash_secret(secret));
    }

    pub fn len(&self) -> usize {
        lock(&self.by_hash).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        Ok(Ctx {
            session,
            state: state.clone(),
            dash,
        })
    }
}

/// Who is signed in: refuses with 401 and a sign-in link when nobody (or a revoked
/// member) is.
async fn authenticate(
    headers: &HeaderMap,
    state: &AppState,
    dash: &Dashboard,
) -> Result<Session, DashError> {
    let signed_out = || {
        DashError::new(
            StatusCode::UNAUTHORIZED,
            "you are not signed in (or your session ended); sign in at /dashboard/signin",
        )
    };
    let secret = cookie_secret(headers).ok_or_else(signed_out)?;
    let session = dash.sessions.get(&secret).ok_or_else(signed_out)?;
    let storage = state.storage();
    let token = storage
        .token(session.token_hash.clone())
        .await
        .map_err(DashError::internal)?;
    let member = storage
        .member(session.member_id.clone())
        .await
        .map_err(DashError::internal)?;
    let valid = token.is_some_and(|t| t.revoked_at_ms.is_none() && t.expires_at_ms > now_ms())
        && member.is_some_and(|m| m.revoked_at_ms.is_none());
    if !valid {
        dash.sessions.close(&secret);
        return Err(DashError::new(
            StatusCode::UNAUTHORIZED,
            "your access to this production was revoked or has expired; ask a coordinator for a new invite code",
        ));
    }
    Ok(session)
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
    fn sessions_are_kept_hashed() {
        let s = Sessions::new();
        let secret = s.open(Session {
            member_id: "m".into(),
            production_id: "p".into(),
            name: "n".into(),
            role: Role::Coordinator,
            device_id: "d".into(),
            token_hash: "t".into(),
            csrf: String::new(),
            expires: Instant::now(),
        });
        let got = s.get(&secret).map(|x| x.member_id);
        assert_eq!(got.as_deref(), Some("m"));
        assert!(!lock(&s.by_hash).contains_key(&secret));
        assert!(s.get("not-it").is_none());
        s.close(&secret);
        assert!(s.is_empty());
    }

    #[test]
    fn csrf_compare() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("", "abc"));
    }
}
