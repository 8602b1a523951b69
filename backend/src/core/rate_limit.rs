//! Per-client-IP rate limits on the authentication routes (register, login, refresh).

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::HeaderMap,
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

use crate::core::error::{ApiError, ErrorCode};

/// One keyed limiter; `None` inside means limiting is disabled.
#[derive(Clone)]
pub struct IpRateLimit {
    limiter: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    trust_proxy_headers: bool,
}

impl IpRateLimit {
    /// `per_minute` requests per IP per minute, all of which may come in a burst; 0 disables.
    pub fn per_minute(per_minute: u32, trust_proxy_headers: bool) -> Self {
        let limiter =
            NonZeroU32::new(per_minute).map(|n| Arc::new(RateLimiter::keyed(Quota::per_minute(n))));
        Self {
            limiter,
            trust_proxy_headers,
        }
    }

    /// Checks one request from `ip`; on refusal, the whole seconds until it may retry.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Forgets clients whose budget is full again, so memory stays bounded.
    pub fn forget_idle_clients(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The rate limits of the three authentication routes.
#[derive(Clone)]
pub struct AuthRateLimits {
    pub register: IpRateLimit,
    pub login: IpRateLimit,
    pub refresh: IpRateLimit,
}

impl AuthRateLimits {
    pub fn new(per_minute: u32, trust_proxy_headers: bool) -> Self {
        Self {
            register: IpRateLimit::per_minute(per_minute, trust_proxy_headers),
            login: IpRateLimit::per_minute(per_minute, trust_proxy_headers),
            refresh: IpRateLimit::per_minute(per_minute.saturating_mul(2), trust_proxy_headers),
        }
    }

    pub fn forget_idle_clients(&self) {
        self.register.forget_idle_clients();
        self.login.forget_idle_clients();
        self.refresh.forget_idle_clients();
    }
}

/// Middleware: answers 429 `RATE_LIMIT_EXCEEDED` with `Retry-After` once the client's budget
/// for this route is spent.
pub async fn limit_by_ip(
    State(limit): State<IpRateLimit>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let ip = client_ip(request.headers(), peer, limit.trust_proxy_headers);
    match limit.check(ip) {
        Ok(()) => next.run(request).await,
        Err(retry_after) => ApiError::new(ErrorCode::RateLimitExceeded)
            .with_retry_after(retry_after.max(1))
            .into_response(),
    }
}

/// The client's address: the socket peer, or, when proxy headers are trusted, the last address
/// in `X-Forwarded-For` (the one the nearest proxy appended; earlier entries are the client's
/// own claim and could be forged).
pub fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, trust_proxy_headers: bool) -> IpAddr {
    let forwarded = trust_proxy_headers
        .then(|| headers.get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|ip| ip.trim().parse().ok());
    forwarded.or(peer).unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_per_ip_and_zero_disables() {
        let limit = IpRateLimit::per_minute(2, false);
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        assert!(limit.check(a).is_ok());
        assert!(limit.check(a).is_ok());
        let retry = limit.check(a).unwrap_err();
        assert!((1..=60).contains(&retry), "retry after {retry}");
        assert!(limit.check(b).is_ok());

        let off = IpRateLimit::per_minute(0, false);
        assert!((0..100).all(|_| off.check(a).is_ok()));
    }

    #[test]
    fn forwarded_for_is_used_only_when_trusted() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.1.1.1, 2.2.2.2".parse().unwrap());
        let local = IpAddr::from([127, 0, 0, 1]);
        let peer = Some(local);
        assert_eq!(client_ip(&headers, peer, false), local);
        assert_eq!(client_ip(&headers, peer, true), IpAddr::from([2, 2, 2, 2]));
    }
}
