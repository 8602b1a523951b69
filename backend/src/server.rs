//! The HTTP/1.1 server under the router: hyper does the HTTP; this module decides how long a
//! connection may hold a file descriptor without doing anything useful, and how many it may hold.
//!
//! Each connection is at any moment in one of three states, each with its own clock:
//! - **idle**: a keep-alive connection between requests (a response fully written, no byte of
//!   the next request received). Closed after `keep_alive_timeout`.
//! - **reading a head**: a new connection, or one where the first byte of the next request has
//!   arrived, whose request head hyper has not yet parsed in full. Closed `header_read_timeout`
//!   after the connection was accepted or that first byte arrived (silent, slow or half-sent
//!   requests).
//! - **in a request**: from the parsed head until the response body is finished or dropped. No
//!   clock here: `REQUEST_TIMEOUT_SECS` bounds handlers, and event streams are meant to live
//!   long.
//!
//! Bytes that a client pipelines behind a request in progress count toward that request, so a
//! pipelined partial head falls under the idle clock once the request before it is answered.
//!
//! At most `max_connections` connections are open at once; at the bound the listener stops
//! accepting (the kernel queues newcomers) until one closes. The process's soft open-file limit
//! is raised to its hard limit at start ([`raise_open_file_limit`]) and the bound defaults to
//! that limit minus headroom ([`default_max_connections`]), so `accept` does not hit `EMFILE`.

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, Semaphore},
    task::JoinSet,
    time::Instant,
};
use tower::ServiceExt;

use crate::core::{
    middleware::MAX_HEADER_FIELDS_PARSED,
    settings::{ClientLimits, Settings},
};

/// File descriptors kept free beyond client connections and the database pool: the listener,
/// SQLite's database, WAL and shared-memory files, log output, DNS and TLS files of libraries.
const FD_HEADROOM: u64 = 128;
/// How long to pause accepting after an `accept` error such as `EMFILE`.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// The shortest interval between two warnings about the connection bound or accept errors.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The soft open-file limit before and after [`raise_open_file_limit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFileLimit {
    pub before: u64,
    pub after: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (the usual default soft limit, 1024, is
/// far below what a server with keep-alive connections needs). Returns the limits before and
/// after; on failure the limit is left as it was.
#[cfg(unix)]
#[allow(
    clippy::unnecessary_cast,
    reason = "rlim_t is u64 on Linux, not everywhere"
)]
pub fn raise_open_file_limit() -> io::Result<OpenFileLimit> {
    let mut limit = nofile_limit()?;
    let before = limit.rlim_cur;
    // macOS refuses RLIM_INFINITY (and values above OPEN_MAX) for the soft limit.
    #[cfg(target_os = "macos")]
    let wanted = limit.rlim_max.min(libc::OPEN_MAX as libc::rlim_t);
    #[cfg(not(target_os = "macos"))]
    let wanted = limit.rlim_max;
    if wanted > before {
        limit.rlim_cur = wanted;
        // SAFETY: `setrlimit` only reads the valid `limit`.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(OpenFileLimit {
        before: before as u64,
        after: wanted.max(before) as u64,
    })
}

/// Without `RLIMIT_NOFILE` there is nothing to raise.
#[cfg(not(unix))]
pub fn raise_open_file_limit() -> io::Result<OpenFileLimit> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no RLIMIT_NOFILE",
    ))
}

/// The current soft open-file limit, if the platform has one.
#[cfg(unix)]
#[allow(
    clippy::unnecessary_cast,
    reason = "rlim_t is u64 on Linux, not everywhere"
)]
pub fn open_file_limit() -> Option<u64> {
    nofile_limit().ok().map(|limit| limit.rlim_cur as u64)
}

#[cfg(not(unix))]
pub fn open_file_limit() -> Option<u64> {
    None
}

#[cfg(unix)]
fn nofile_limit() -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` into the valid, exclusively borrowed `limit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit)
}

/// The connection bound for a soft open-file limit: the limit minus the database pool and
/// [`FD_HEADROOM`], or half the limit when that leaves less than half.
pub fn default_max_connections(open_files: u64, db_pool: u32) -> usize {
    let half = open_files / 2;
    let rest = open_files.saturating_sub(u64::from(db_pool) + FD_HEADROOM);
    usize::try_from(rest.max(half).max(1)).unwrap_or(usize::MAX)
}

/// The bound actually used: `MAX_CONNECTIONS` when set, but never above the default for the
/// open-file limit in force (a larger value would let `accept` fail with `EMFILE` again).
pub fn effective_max_connections(limits: &ClientLimits, db_pool: u32) -> usize {
    let safe = open_file_limit().map(|files| default_max_connections(files, db_pool));
    match (limits.max_connections, safe) {
        (Some(configured), Some(safe)) if configured as usize > safe => {
            tracing::warn!(
                configured,
                used = safe,
                "MAX_CONNECTIONS is above what the open-file limit allows; using the lower bound"
            );
            safe
        }
        (Some(configured), _) => configured as usize,
        (None, Some(safe)) => safe,
        (None, None) => 10_000,
    }
}

/// How the server treats connections.
#[derive(Clone, Copy, Debug)]
pub struct ServerConfig {
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub max_connections: usize,
}

impl ServerConfig {
    /// The settings' client limits, with the connection bound resolved against the open-file
    /// limit in force.
    pub fn new(settings: &Settings) -> Self {
        let limits = &settings.client_limits;
        Self {
            header_read_timeout: limits.header_read_timeout,
            keep_alive_timeout: limits.keep_alive_timeout,
            max_connections: effective_max_connections(limits, settings.db_max_connections),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets every
/// connection finish its request in progress (idle ones close at once) and returns when all
/// are closed. Dropping the returned future aborts the connections. Handlers see the peer
/// address as `ConnectInfo<SocketAddr>`.
///
/// Longer than 60 lines on purpose: the accept loop, the connection bound and the graceful
/// shutdown share their state, and read best as one piece.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut last_warning: Option<Instant> = None;
    let mut warn = |message: &str, error: Option<&io::Error>| {
        if last_warning.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            last_warning = Some(Instant::now());
            match error {
                Some(error) => tracing::error!(%error, "{message}"),
                None => tracing::warn!(limit = config.max_connections, "{message}"),
            }
        }
    };

    loop {
        while connections.try_join_next().is_some() {}
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                warn(
                    "connection limit reached: not accepting until a connection closes",
                    None,
                );
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    warn("accept error; pausing briefly", Some(&error));
                    tokio::select! {
                        () = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            stream,
            activity: activity.clone(),
        });
        let service = RequestService {
            router: router.clone(),
            peer,
            activity: activity.clone(),
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            // This module keeps the clocks; hyper's own would conflate idle and slow heads.
            .header_read_timeout(None)
            // Above the bounds the request context refuses in the error shape (414/431), so
            // that hyper's own bare refusal is only for heads far beyond them.
            .max_headers(MAX_HEADER_FIELDS_PARSED)
            .serve_connection(io, service);
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            let _slot = slot;
            tokio::select! {
                result = connection => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                }
                reason = activity.expired(config) => {
                    tracing::debug!(%peer, reason, "closing connection");
                }
            }
        });
    }

    drop(listener);
    graceful.shutdown().await;
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Errors of one connection that `accept` reports; the listener itself is fine.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// What one connection is doing, for its clocks.
struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

struct ActivityState {
    /// Requests whose head is parsed and whose response body is not finished.
    in_flight: usize,
    /// When the connection was accepted, or the first byte of the next request head arrived
    /// after the last response; none while a request is in flight or the connection is idle.
    head_started: Option<Instant>,
    /// When the connection last became idle.
    idle_since: Instant,
}

impl Activity {
    fn new() -> Self {
        Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                head_started: Some(Instant::now()),
                idle_since: Instant::now(),
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn bytes_received(&self) {
        let mut state = self.state();
        if state.in_flight == 0 && state.head_started.is_none() {
            state.head_started = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// hyper lets go of a response body once its last chunk is queued, before the socket has
    /// taken it all: until it has, the connection is still answering, not idle.
    fn bytes_sent(&self) {
        let mut state = self.state();
        if state.in_flight == 0 && state.head_started.is_none() {
            state.idle_since = Instant::now();
        }
    }

    fn request_started(&self) {
        let mut state = self.state();
        state.in_flight += 1;
        state.head_started = None;
    }

    fn request_finished(&self) {
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
        }
        drop(state);
        self.changed.notify_one();
    }

    /// The current deadline and what it is for; none while a request is in flight.
    fn deadline(&self, config: ServerConfig) -> Option<(Instant, &'static str)> {
        let state = self.state();
        if state.in_flight > 0 {
            None
        } else if let Some(started) = state.head_started {
            Some((
                started + config.header_read_timeout,
                "request head not received within HEADER_READ_TIMEOUT_SECS",
            ))
        } else {
            Some((
                state.idle_since + config.keep_alive_timeout,
                "idle for KEEP_ALIVE_TIMEOUT_SECS",
            ))
        }
    }

    /// Resolves when the connection's current clock runs out, with the reason.
    async fn expired(&self, config: ServerConfig) -> &'static str {
        loop {
            let changed = self.changed.notified();
            match self.deadline(config) {
                None => changed.await,
                Some((at, reason)) => {
                    if Instant::now() >= at {
                        return reason;
                    }
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = changed => {}
                    }
                }
            }
        }
    }
}

/// The socket, reporting received bytes to the connection's [`Activity`].
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.bytes_sent();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.bytes_sent();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Hands each request to the router with the peer address, and marks it in flight until its
/// response body is finished or dropped.
#[derive(Clone)]
struct RequestService {
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<axum::http::Request<Incoming>> for RequestService {
    type Response = axum::http::Response<InFlightBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: axum::http::Request<Incoming>) -> Self::Future {
        self.activity.request_started();
        let in_flight = InFlight(self.activity.clone());
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let response = self.router.clone().oneshot(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| InFlightBody {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// Ends its request's time in flight when dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that keeps its request in flight until hyper has finished with it.
pub struct InFlightBody {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for InFlightBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_bound_leaves_room_for_the_pool_and_files() {
        assert_eq!(default_max_connections(1024, 16), 1024 - 16 - 128);
        assert_eq!(default_max_connections(65_536, 32), 65_536 - 32 - 128);
        // A tiny limit still leaves half of it for everything else.
        assert_eq!(default_max_connections(200, 32), 100);
        assert_eq!(default_max_connections(1, 4), 1);
    }
}
