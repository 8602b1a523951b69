//! Per-client-IP rate limits on the authentication routes (register, login, refresh).
//!
//! On PostgreSQL the budgets are shared by every service process on the database (one row per
//! route and address, taken with one atomic statement: `db::rate_limits`), so that N copies
//! behind a load balancer allow the configured budget in total, not N times it, and a restart
//! does not refill them. On SQLite, and whenever the database cannot be asked, each process
//! keeps its own in memory.

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
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

use crate::{
    core::{
        error::{ApiError, ErrorCode},
        settings::DatabaseBackend,
    },
    db::{Store, StoreError},
};

/// The most expired shared budgets deleted in one statement.
const PRUNE_BATCH: i64 = 1000;

/// One route's budget per client address: `per_minute` requests, all of which may come in a
/// burst, then one every `60 / per_minute` seconds. `None` inside means limiting is disabled.
#[derive(Clone)]
pub struct IpRateLimit {
    limiter: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    /// Set on PostgreSQL: the budget every process shares.
    shared: Option<SharedBudget>,
    trust_proxy_headers: bool,
}

#[derive(Clone)]
struct SharedBudget {
    store: Arc<Store>,
    route: &'static str,
    interval: Duration,
    burst: u32,
}

impl IpRateLimit {
    /// `per_minute` requests per IP per minute, all of which may come in a burst; 0 disables.
    /// Kept by this process alone.
    pub fn per_minute(per_minute: u32, trust_proxy_headers: bool) -> Self {
        let limiter =
            NonZeroU32::new(per_minute).map(|n| Arc::new(RateLimiter::keyed(Quota::per_minute(n))));
        Self {
            limiter,
            shared: None,
            trust_proxy_headers,
        }
    }

    /// As [`IpRateLimit::per_minute`], shared through `store` by every process on its database
    /// when that is PostgreSQL (`route` names the budget there).
    fn shared_per_minute(
        route: &'static str,
        per_minute: u32,
        trust_proxy_headers: bool,
        store: Option<&Arc<Store>>,
    ) -> Self {
        let mut limit = Self::per_minute(per_minute, trust_proxy_headers);
        limit.shared = store
            .filter(|store| store.backend() == DatabaseBackend::Postgres)
            .filter(|_| per_minute > 0)
            .map(|store| SharedBudget {
                store: store.clone(),
                route,
                interval: Duration::from_secs(60) / per_minute,
                burst: per_minute,
            });
        limit
    }

    /// Checks one request from `ip`; on refusal, the whole seconds until it may retry.
    pub async fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if let Some(shared) = &self.shared {
            let address = ip.to_string();
            let taken = shared
                .store
                .take_rate_budget(shared.route, &address, shared.interval, shared.burst)
                .await;
            match taken {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) => return Err(whole_seconds(wait)),
                // A full or failing disk: the store's health has logged it, once.
                Err(StoreError::Storage { .. }) => {}
                Err(error) => {
                    tracing::warn!(%error, route = shared.route, "shared rate limit unavailable; using this process's own");
                }
            }
        }
        limiter.check_key(&ip).map_err(|not_until| {
            whole_seconds(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }

    /// Forgets clients whose budget is full again, so memory stays bounded.
    fn forget_idle_clients(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// A wait in whole seconds, rounded up.
fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// The rate limits of the three authentication routes.
#[derive(Clone)]
pub struct AuthRateLimits {
    pub register: IpRateLimit,
    pub login: IpRateLimit,
    pub refresh: IpRateLimit,
}

impl AuthRateLimits {
    /// `per_minute` for register and login, twice that for refresh; shared through `store`
    /// when its database is PostgreSQL.
    pub fn new(per_minute: u32, trust_proxy_headers: bool, store: Option<&Arc<Store>>) -> Self {
        let limit = |route, per_minute| {
            IpRateLimit::shared_per_minute(route, per_minute, trust_proxy_headers, store)
        };
        Self {
            register: limit("register", per_minute),
            login: limit("login", per_minute),
            refresh: limit("refresh", per_minute.saturating_mul(2)),
        }
    }

    /// Forgets the budgets that are whole again: this process's, and the shared ones.
    pub async fn forget_idle_clients(&self) {
        self.register.forget_idle_clients();
        self.login.forget_idle_clients();
        self.refresh.forget_idle_clients();
        let Some(shared) = [&self.register, &self.login, &self.refresh]
            .into_iter()
            .find_map(|limit| limit.shared.as_ref())
        else {
            return;
        };
        loop {
            match shared.store.prune_rate_budgets(PRUNE_BATCH).await {
                Ok(deleted) if deleted == PRUNE_BATCH as u64 => {}
                Ok(_) => return,
                Err(error) => {
                    tracing::warn!(%error, "could not prune expired shared rate limits");
                    return;
                }
            }
        }
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
    match limit.check(ip).await {
        Ok(()) => next.run(request).await,
        Err(retry_after) => ApiError::new(ErrorCode::RateLimitExceeded)
            .with_retry_after(retry_after.max(1))
            .into_response(),
    }
}

/// The client's address: the socket peer, or, when proxy headers are trusted, the last address
/// in `X-Forwarded-For` (the one the nearest proxy appended; earlier entries are the client's
/// own claim and could be forged). Several header lines are one list in order, and a proxy may
/// add its own line after one the client sent (HAProxy's `option forwardfor` does): the last
/// address of the last line.
pub fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, trust_proxy_headers: bool) -> IpAddr {
    let forwarded = trust_proxy_headers
        .then(|| headers.get_all("x-forwarded-for").iter().next_back())
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|ip| ip.trim().parse().ok());
    forwarded.or(peer).unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn budget_is_per_ip_and_zero_disables() {
        let limit = IpRateLimit::per_minute(2, false);
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        assert!(limit.check(a).await.is_ok());
        assert!(limit.check(a).await.is_ok());
        let retry = limit.check(a).await.unwrap_err();
        assert!((1..=60).contains(&retry), "retry after {retry}");
        assert!(limit.check(b).await.is_ok());

        let off = IpRateLimit::per_minute(0, false);
        for _ in 0..100 {
            assert!(off.check(a).await.is_ok());
        }
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
        assert_eq!(whole_seconds(Duration::from_micros(3_000_001)), 4);
        assert_eq!(whole_seconds(Duration::from_micros(1)), 1);
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

    #[test]
    fn a_proxys_own_forwarded_for_line_wins_over_the_clients() {
        let mut headers = HeaderMap::new();
        // The client's forged line first, then the one the proxy added.
        headers.append("x-forwarded-for", "10.0.0.1".parse().unwrap());
        headers.append("x-forwarded-for", "203.0.113.5".parse().unwrap());
        let peer = Some(IpAddr::from([127, 0, 0, 1]));
        assert_eq!(
            client_ip(&headers, peer, true),
            IpAddr::from([203, 0, 113, 5])
        );
    }
}
