//! Connections: the listener that admits at most `max_connections` at a time (the rest
//! wait, not accepted, in the kernel's listen backlog), and the socket wrapper that
//! closes a connection left `idle_timeout` without a request in progress: a client that
//! sends its headers a byte at a time (slowloris), an idle keep-alive connection, or one
//! that stopped reading its response.
//!
//! axum's server gives hyper no timer, so hyper's own header read timeout never fires
//! and an idle connection is kept forever; with a connection cap that would let a few
//! hundred silent sockets lock everyone out. The timeout is kept here, at the socket,
//! because that is the one place axum lets us reach.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tokio_rustls::Accept;
use tokio_rustls::server::TlsStream;

use super::tls::Tls;

/// How often, at most, a full house is logged: under a flood it is full all the time.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(60);

/// File descriptors the process needs besides its connections: rule files being read,
/// the file watcher, standard streams, the runtime's own.
const RESERVED_FILES: usize = 64;

/// Accepts connections while fewer than the cap are open.
pub(crate) struct Listener {
    inner: TcpListener,
    /// HTTPS when set.
    tls: Option<Arc<Tls>>,
    slots: Arc<Semaphore>,
    max: usize,
    idle_timeout: Duration,
    warned_full: Option<Instant>,
}

impl Listener {
    pub(crate) fn new(
        inner: TcpListener,
        tls: Option<Arc<Tls>>,
        max_connections: usize,
        idle_timeout: Duration,
    ) -> Self {
        // `Semaphore::new` panics past MAX_PERMITS; no machine holds that many sockets.
        let max = max_connections.clamp(1, Semaphore::MAX_PERMITS);
        warn_if_few_files(max);
        Listener {
            inner,
            tls,
            slots: Arc::new(Semaphore::new(max)),
            max,
            idle_timeout,
            warned_full: None,
        }
    }

    /// A slot for one connection, waiting while all are taken.
    async fn slot(&mut self) -> OwnedSemaphorePermit {
        if let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() {
            return slot;
        }
        self.warn_full();
        match Arc::clone(&self.slots).acquire_owned().await {
            Ok(slot) => slot,
            // Only a closed semaphore fails, and nothing closes it: accept nothing more.
            Err(_) => std::future::pending().await,
        }
    }

    fn warn_full(&mut self) {
        if self
            .warned_full
            .is_some_and(|at| at.elapsed() < FULL_WARNING_EVERY)
        {
            return;
        }
        self.warned_full = Some(Instant::now());
        tracing::warn!(
            max_connections = self.max,
            "all connection slots are taken; new connections wait until one closes"
        );
    }
}

impl axum::serve::Listener for Listener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        // The slot comes first: over the cap, connections stay in the kernel's backlog,
        // costing this process no file descriptor and no memory.
        let slot = self.slot().await;
        // axum's accept retries failures, and backs off when out of file descriptors.
        let (stream, peer) = axum::serve::Listener::accept(&mut self.inner).await;
        let stream = match &self.tls {
            // The handshake runs when hyper first reads, under the idle timeout.
            Some(tls) => Stream::Handshake(Box::pin(tls.acceptor().accept(stream))),
            None => Stream::Plain(stream),
        };
        (Connection::new(stream, peer, slot, self.idle_timeout), peer)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Warns when the open-file limit would be reached before the connection cap: past it
/// accepting fails, and the cap no longer protects anyone.
fn warn_if_few_files(max_connections: usize) {
    let Some(limit) = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| soft_open_files(&text))
    else {
        return;
    };
    if max_connections.saturating_add(RESERVED_FILES) > limit {
        tracing::warn!(
            max_connections,
            open_files = limit,
            "the open-file limit is below max-connections plus {RESERVED_FILES}; raise it (ulimit -n) or lower --max-connections"
        );
    }
}

/// The soft `Max open files` limit from the text of `/proc/self/limits`; `None` when
/// unlimited or unreadable.
fn soft_open_files(limits: &str) -> Option<usize> {
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether a connection has a request in progress. The routes see it as connect info
/// and mark each request; the connection reads it to know when it is idle.
#[derive(Debug, Clone, Default)]
pub(crate) struct Activity(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    started: AtomicU64,
    finished: AtomicU64,
}

impl Activity {
    /// Marks a request in progress until the returned guard is dropped (the response is
    /// ready, or the request was abandoned).
    pub(crate) fn begin(&self) -> InProgress {
        self.0.started.fetch_add(1, Ordering::SeqCst);
        InProgress(self.clone())
    }

    /// The number of requests finished so far, or `None` while one is in progress.
    fn idle_after(&self) -> Option<u64> {
        let finished = self.0.finished.load(Ordering::SeqCst);
        let started = self.0.started.load(Ordering::SeqCst);
        (started == finished).then_some(finished)
    }
}

/// A request in progress on a connection; see [`Activity::begin`].
#[derive(Debug)]
pub(crate) struct InProgress(Activity);

impl Drop for InProgress {
    fn drop(&mut self) {
        (self.0).0.finished.fetch_add(1, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, Listener>> for Activity {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Activity {
        stream.io().activity.clone()
    }
}

/// A connection's byte stream: plain TCP, or TLS (first its handshake, then the session).
enum Stream {
    Plain(TcpStream),
    Handshake(Pin<Box<Accept<TcpStream>>>),
    Tls(Box<TlsStream<TcpStream>>),
    /// A handshake that failed: every read and write fails.
    Failed,
}

/// An accepted socket that holds its slot until dropped, and fails its reads and writes
/// once it has been idle too long, which makes hyper close it.
pub(crate) struct Connection {
    stream: Stream,
    peer: SocketAddr,
    activity: Activity,
    idle_timeout: Duration,
    /// Wakes the connection to check whether it has been idle too long: at the idle
    /// timeout after `idle_from` or earlier, never later. Moved on only when it fires
    /// early, not on every request and write: re-arming a timer costs a lock on the
    /// timer wheel, a stored instant does not.
    deadline: Pin<Box<Sleep>>,
    /// When the connection last became idle or a response last made progress.
    idle_from: tokio::time::Instant,
    /// Requests finished when the deadline was last set.
    seen: u64,
    timed_out: bool,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    fn new(
        stream: Stream,
        peer: SocketAddr,
        slot: OwnedSemaphorePermit,
        idle_timeout: Duration,
    ) -> Connection {
        Connection {
            stream,
            peer,
            activity: Activity::default(),
            idle_timeout,
            deadline: Box::pin(tokio::time::sleep(idle_timeout)),
            idle_from: tokio::time::Instant::now(),
            seen: 0,
            timed_out: false,
            _slot: slot,
        }
    }

    /// Ready once the connection has been idle too long; never while a request is in
    /// progress (the request timeout governs those). The time restarts when a request
    /// finishes and whenever a response makes progress, but not when bytes arrive: a
    /// client dribbling its headers must still finish them in time.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(finished) = self.activity.idle_after() else {
            return Poll::Pending;
        };
        if finished != self.seen {
            self.seen = finished;
            self.restart();
        }
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let due = self.idle_from + self.idle_timeout;
            if due <= self.deadline.deadline() {
                break;
            }
            // Activity since the timer was set: wait for the rest of the time.
            self.deadline.as_mut().reset(due);
        }
        if !self.timed_out {
            self.timed_out = true;
            tracing::debug!(peer = %self.peer, "closing a connection idle for {:?}", self.idle_timeout);
        }
        Poll::Ready(())
    }

    fn restart(&mut self) {
        self.idle_from = tokio::time::Instant::now();
    }

    fn wrote(&mut self, written: &Poll<io::Result<usize>>) {
        if matches!(written, Poll::Ready(Ok(n)) if *n > 0) && self.activity.idle_after().is_some() {
            self.restart();
        }
    }
}

impl Connection {
    /// Drives a TLS handshake to its end; ready at once for other streams.
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Stream::Handshake(accept) = &mut self.stream {
            match accept.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(tls)) => self.stream = Stream::Tls(Box::new(tls)),
                Poll::Ready(Err(e)) => {
                    tracing::debug!(peer = %self.peer, "TLS handshake failed: {e}");
                    self.stream = Stream::Failed;
                    return Poll::Ready(Err(e));
                }
            }
        }
        match self.stream {
            Stream::Failed => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the TLS handshake failed",
            ))),
            _ => Poll::Ready(Ok(())),
        }
    }

    /// The stream once ready for reads and writes.
    fn ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Pin<&mut dyn ByteStream>>> {
        if let Poll::Ready(Err(e)) = self.poll_handshake(cx) {
            return Poll::Ready(Err(e));
        }
        match &mut self.stream {
            Stream::Plain(s) => Poll::Ready(Ok(Pin::new(s))),
            Stream::Tls(s) => Poll::Ready(Ok(Pin::new(s.as_mut()))),
            Stream::Handshake(_) => Poll::Pending,
            Stream::Failed => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the TLS handshake failed",
            ))),
        }
    }
}

/// What a connection reads and writes.
trait ByteStream: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> ByteStream for T {}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the connection was idle too long")
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.poll_idle(cx).is_ready() {
            return Poll::Ready(Err(idle_error()));
        }
        match this.ready(cx) {
            Poll::Ready(Ok(stream)) => stream.poll_read(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.poll_idle(cx).is_ready() {
            return Poll::Ready(Err(idle_error()));
        }
        let written = match this.ready(cx) {
            Poll::Ready(Ok(stream)) => stream.poll_write(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        };
        this.wrote(&written);
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.poll_idle(cx).is_ready() {
            return Poll::Ready(Err(idle_error()));
        }
        let written = match this.ready(cx) {
            Poll::Ready(Ok(stream)) => stream.poll_write_vectored(cx, bufs),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        };
        this.wrote(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
            Stream::Handshake(_) | Stream::Failed => false,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Handshake(_) | Stream::Failed => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Handshake(_) | Stream::Failed => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_soft_open_file_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(soft_open_files(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(soft_open_files(unlimited), None);
        assert_eq!(soft_open_files(""), None);
    }

    #[test]
    fn a_connection_is_idle_between_requests_only() {
        let activity = Activity::default();
        assert_eq!(activity.idle_after(), Some(0));
        let first = activity.begin();
        assert_eq!(activity.idle_after(), None);
        drop(first);
        assert_eq!(activity.idle_after(), Some(1));
        let _second = activity.begin();
        assert_eq!(activity.idle_after(), None);
    }
}
