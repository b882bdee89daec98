//! Rate limits on guessing secrets: `POST /api/redeem` and the dashboard's sign-in share
//! one pair of `governor` limiters, one keyed by the caller's IP address and one by the
//! secret tried (its sha256), so neither one client trying many codes nor many clients
//! trying one code gets far. Refused attempts are answered 429 with `Retry-After` before
//! the secret is looked at. Every attempt counts, successful or not.
//!
//! Several relays on one PostgreSQL also count every attempt in the database
//! ([`SignInLimits::check_everywhere`]), in fixed one-minute windows, so a guesser spreading
//! tries over the relays behind a load balancer gets no more than from one relay (at most
//! twice the per-minute figure across a window's edge).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::{hash_secret, normalize_invite_code};
use crate::storage::AccountsStore;

/// Defaults: a crew's phones behind one office router redeeming their codes at the
/// morning meeting fit the burst; a guesser gets one try a second per address.
pub const DEFAULT_PER_IP_PER_MIN: u32 = 60;
pub const DEFAULT_PER_SECRET_PER_MIN: u32 = 60;

pub struct SignInLimits {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_secret: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    per_ip_per_min: u32,
    per_secret_per_min: u32,
}

impl std::fmt::Debug for SignInLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInLimits")
            .field("per_ip_per_min", &self.per_ip_per_min)
            .field("per_secret_per_min", &self.per_secret_per_min)
            .finish()
    }
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits::new(DEFAULT_PER_IP_PER_MIN, DEFAULT_PER_SECRET_PER_MIN)
    }
}

fn quota(per_min: u32) -> Quota {
    // Zero is taken as one: a limiter that refuses everything would lock out everyone.
    Quota::per_minute(NonZeroU32::new(per_min).unwrap_or(NonZeroU32::MIN))
}

impl SignInLimits {
    /// `per_*_per_min` attempts a minute, all of them available at once (the burst).
    pub fn new(per_ip_per_min: u32, per_secret_per_min: u32) -> Self {
        SignInLimits {
            per_ip: RateLimiter::keyed(quota(per_ip_per_min)),
            per_secret: RateLimiter::keyed(quota(per_secret_per_min)),
            clock: DefaultClock::default(),
            per_ip_per_min,
            per_secret_per_min,
        }
    }

    /// Counts one attempt with `secret` from `ip` (unknown when the server was not given
    /// peer addresses); `Err` with how long to wait when either limit is spent. The
    /// address is checked first, so a refused client adds no keys for its guesses.
    pub fn check(&self, ip: Option<IpAddr>, secret: &str) -> Result<(), Duration> {
        if let Some(ip) = ip {
            self.per_ip
                .check_key(&ip)
                .map_err(|n| n.wait_time_from(self.clock.now()))?;
        }
        let key = hash_secret(&normalize_invite_code(secret));
        self.per_secret
            .check_key(&key)
            .map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// [`SignInLimits::check`], then the same limits over every relay sharing `store` (a
    /// no-op on a store only this relay uses). A store that cannot count is not a reason
    /// to lock everyone out: the attempt goes on under this relay's own limits, logged.
    pub async fn check_everywhere(
        &self,
        store: &dyn AccountsStore,
        ip: Option<IpAddr>,
        secret: &str,
        now_ms: i64,
    ) -> Result<(), Duration> {
        self.check(ip, secret)?;
        const WINDOW_MS: i64 = 60_000;
        let window_start = now_ms - now_ms.rem_euclid(WINDOW_MS);
        let mut keys = vec![format!(
            "code:{}",
            hash_secret(&normalize_invite_code(secret))
        )];
        let mut limits = vec![self.per_secret_per_min.max(1)];
        if let Some(ip) = ip {
            keys.push(format!("ip:{ip}"));
            limits.push(self.per_ip_per_min.max(1));
        }
        match store.count_sign_in_attempts(keys, window_start).await {
            Ok(Some(counts)) if counts.iter().zip(&limits).any(|(n, max)| n > max) => Err(
                Duration::from_millis((window_start + WINDOW_MS - now_ms).max(1) as u64),
            ),
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot count sign-in attempts across relays");
                Ok(())
            }
        }
    }

    /// Forgets keys whose limit is back to full, so memory follows recent attempts only.
    pub fn forget_idle(&self) {
        self.per_ip.retain_recent();
        self.per_ip.shrink_to_fit();
        self.per_secret.retain_recent();
        self.per_secret.shrink_to_fit();
    }
}

/// 429 with `Retry-After` (whole seconds, at least one) and a JSON error.
pub fn too_many(retry: Duration, what: &str) -> Response {
    let secs = retry.as_secs() + u64::from(retry.subsec_nanos() > 0);
    let secs = secs.max(1);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs.to_string())],
        axum::Json(serde_json::json!({
            "error": format!("too many {what}; try again in {secs} s"),
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_hold_per_address_and_per_secret() {
        let l = SignInLimits::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.check(Some(a), "AAAA-AAAA-AAAA").is_ok());
        assert!(l.check(Some(a), "BBBB-BBBB-BBBB").is_ok());
        assert!(l.check(Some(a), "CCCC-CCCC-CCCC").is_ok());
        let wait = l.check(Some(a), "DDDD-DDDD-DDDD").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20));
        // Another address is not held back by the first one's attempts...
        assert!(l.check(Some(b), "DDDD-DDDD-DDDD").is_ok());
        // ... but a secret tried too often is, from anywhere, however it is typed.
        assert!(l.check(Some(b), "aaaa aaaa aaaa").is_ok());
        assert!(l.check(None, "AAAAAAAAAAAA").is_err());
    }
}
