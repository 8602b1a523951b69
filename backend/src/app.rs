//! The composition root: builds the services (once, each with only what it uses) and the
//! router, spawns the background workers, and serves on a bound listener until a shutdown
//! signal, so that `main` and the tests run exactly the same stack. The only module of the
//! library that may import every other, and the only one none imports.

use std::{future::Future, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, HeaderValue, Method, header},
    middleware,
};
use tokio::net::TcpListener;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
};

use crate::{
    core::{
        middleware::{
            RunToCompletionLayer, X_REQUEST_ID, method_not_allowed, panic_response,
            request_context, request_timeout, route_not_found,
        },
        rate_limit::AuthRateLimits,
        security::{jwt::TokenKeys, password::PasswordHasherPool},
        settings::{CorsOrigins, Settings},
    },
    db::Store,
    events::EventBus,
    routers::{self, state::Services},
    server,
    services::{
        accounts::AccountService, auth::AuthService, background::Background,
        categories::CategoryService, changes::ChangeService, health::HealthService,
        reminders::ReminderService, tags::TagService, tasks::TaskService,
    },
};

pub use crate::routers::state::AppState;

/// The largest request body accepted (SPEC: 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

impl AppState {
    /// Builds every service once, each with only what it uses. (The type is the HTTP layer's;
    /// its wiring is here, in the composition root.)
    pub fn new(settings: Settings, store: Arc<Store>) -> Self {
        let tokens = Arc::new(TokenKeys::new(&settings.jwt_secret));
        let hasher = PasswordHasherPool::new();
        let events = EventBus::new(&store);
        let auth_limits = AuthRateLimits::new(
            settings.auth_rate_limit_per_minute,
            settings.trust_proxy_headers,
            Some(&store),
        );
        let settings = Arc::new(settings);
        Self(Arc::new(Services {
            auth: Arc::new(AuthService::new(
                store.clone(),
                tokens,
                hasher.clone(),
                settings.refresh_reuse_grace,
                store.clock().clone(),
            )),
            accounts: Arc::new(AccountService::new(store.clone(), hasher)),
            tasks: Arc::new(TaskService::new(store.clone(), events.clone())),
            tags: Arc::new(TagService::new(store.clone(), events.clone())),
            categories: Arc::new(CategoryService::new(store.clone(), events.clone())),
            reminders: Arc::new(ReminderService::new(store.clone(), store.clock().clone())),
            changes: Arc::new(ChangeService::new(store.clone())),
            health: Arc::new(HealthService::new(store.clone())),
            background: Arc::new(Background::new(store, events.clone(), settings.clone())),
            auth_limits,
            settings,
            events,
        }))
    }
}

/// The complete router with its middleware, outermost first: request context (id, span, log
/// line), CORS, timeout, a change's own task (so its work runs to completion even when the
/// answer is no longer awaited), panic catching, body limit; and JSON answers for unknown
/// routes and methods. Timeouts and panics sit inside CORS so that browsers can read those
/// answers too.
pub fn router(state: AppState) -> Router {
    routers::routes(&state)
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(RunToCompletionLayer)
        .layer(middleware::from_fn_with_state(
            state.settings.request_timeout,
            request_timeout,
        ))
        .layer(cors(&state.settings))
        .layer(middleware::from_fn(request_context))
        .with_state(state)
}

fn cors(settings: &Settings) -> CorsLayer {
    let origins = match &settings.cors_origins {
        CorsOrigins::Any => AllowOrigin::mirror_request(),
        CorsOrigins::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            X_REQUEST_ID.clone(),
            // Stream clients built on fetch resume with it (EventSource needs no preflight).
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            X_REQUEST_ID.clone(),
            header::LOCATION,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
        ])
        .max_age(Duration::from_secs(600))
}

/// Serves `state` on `listener` until `shutdown` resolves, then lets in-flight requests finish
/// for a bounded time and closes the pool.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let background = state.background.clone();
    let events = state.events.clone();
    let limits = state.auth_limits.clone();
    // Background work lives exactly as long as this future: stopped after shutdown, and also
    // when the future is dropped without finishing.
    let mut workers = Workers(background.spawn_workers());
    workers.0.push(tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            limits.forget_idle_clients().await;
        }
    }));

    if background.database_available() {
        events.wait_until_listening(Duration::from_secs(3)).await;
    }
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let config = server::ServerConfig::new(&state.settings);
    let server = server::serve(listener, router(state), config, async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections; finishing in-flight requests");
        // Event streams never finish by themselves: end them now.
        events.close();
        let _ = stopping_tx.send(());
    });
    let deadline = async move {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };

    let result = tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!("in-flight requests did not finish within {SHUTDOWN_GRACE:?}; stopping anyway");
            Ok(())
        }
    };
    drop(workers);
    background.close().await;
    result
}

/// Background tasks, aborted when dropped.
struct Workers(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in &self.0 {
            worker.abort();
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}
