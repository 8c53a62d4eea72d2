//! Accepting connections for both servers: at most `max_connections` open at
//! once (past that, new clients wait in the kernel's backlog rather than
//! costing memory), and the TLS handshake, when configured, done off the
//! accept loop under a deadline so a slow or silent client holds nothing but
//! its own slot.
//!
//! A connection must send its first byte within [`Timeouts::first_byte`] and
//! then never stay silent longer than [`Timeouts::idle`]; otherwise it is
//! closed and its slot freed, so silent sockets cannot use up
//! `max_connections`. A connection that never sent a byte ends at once on
//! shutdown: there is nothing of its to finish.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ccpipe_pipeline::Shutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::WaitForCancellationFutureOwned;

/// Connections open at once on one listener, unless configured.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How long a client may take to finish the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How long a connection may stay silent (after its TLS handshake).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From the connection's start to its first byte.
    pub first_byte: Duration,
    /// Between any two bytes after that.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            first_byte: Duration::from_secs(30),
            idle: Duration::from_secs(60),
        }
    }
}

/// A bound listener with its connection limit and optional TLS.
pub struct Acceptor {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    slots: Arc<Semaphore>,
    max_connections: usize,
    timeouts: Timeouts,
}

impl From<TcpListener> for Acceptor {
    /// Plain TCP with the default connection limit.
    fn from(listener: TcpListener) -> Acceptor {
        Acceptor::new(listener, None, DEFAULT_MAX_CONNECTIONS)
    }
}

impl Acceptor {
    pub fn new(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        max_connections: usize,
    ) -> Acceptor {
        let max_connections = max_connections.clamp(1, Semaphore::MAX_PERMITS);
        Acceptor {
            listener,
            tls: tls.map(TlsAcceptor::from),
            slots: Arc::new(Semaphore::new(max_connections)),
            max_connections,
            timeouts: Timeouts::default(),
        }
    }

    /// Closes connections silent for longer than `timeouts`.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Acceptor {
        self.timeouts = timeouts;
        self
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The next TCP connection, once a slot is free; `None` when `shutdown`
    /// fires first.
    pub async fn accept(&self, protocol: &str, shutdown: &Shutdown) -> Option<Incoming> {
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                tracing::warn!(
                    protocol,
                    max_connections = self.max_connections,
                    "max_connections reached; new connections wait until one closes"
                );
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return None,
                    slot = self.slots.clone().acquire_owned() => slot.ok()?,
                }
            }
        };
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return None,
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, _peer)) => {
                        let _ = tcp.set_nodelay(true);
                        return Some(Incoming {
                            tcp,
                            tls: self.tls.clone(),
                            slot,
                            timeouts: self.timeouts,
                            shutdown: shutdown.clone(),
                        });
                    }
                    Err(e) => {
                        tracing::warn!(protocol, error = %e, "cannot accept a connection");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                },
            }
        }
    }
}

/// An accepted connection before its TLS handshake.
pub struct Incoming {
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    slot: OwnedSemaphorePermit,
    timeouts: Timeouts,
    shutdown: Shutdown,
}

impl Incoming {
    /// Completes the TLS handshake (when configured) within
    /// [`TLS_HANDSHAKE_TIMEOUT`].
    pub async fn establish(self) -> io::Result<Conn> {
        let Incoming {
            tcp,
            tls,
            slot,
            timeouts,
            shutdown,
        } = self;
        let io = match tls {
            None => Io::Plain(tcp),
            Some(tls) => match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
                Ok(Ok(stream)) => Io::Tls(Box::new(stream)),
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the TLS handshake did not finish in time",
                    ))
                }
            },
        };
        Ok(Conn {
            io,
            watch: Watch::new(timeouts, shutdown),
            _slot: slot,
        })
    }
}

/// An established connection; its slot frees when it is dropped.
pub struct Conn {
    io: Io,
    watch: Watch,
    _slot: OwnedSemaphorePermit,
}

/// Watches a connection's reads for silence, and for shutdown before its
/// first byte.
struct Watch {
    timeouts: Timeouts,
    last_read: Instant,
    seen_byte: bool,
    timer: Pin<Box<Sleep>>,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Watch {
    fn new(timeouts: Timeouts, shutdown: Shutdown) -> Watch {
        let now = Instant::now();
        Watch {
            timeouts,
            last_read: now,
            seen_byte: false,
            timer: Box::pin(tokio::time::sleep_until(now + timeouts.first_byte)),
            shutdown: Box::pin(shutdown.cancelled_owned()),
        }
    }

    fn read(&mut self) {
        self.seen_byte = true;
        self.last_read = Instant::now();
    }

    /// Called when a read is pending: an error once the connection has been
    /// silent too long, end-of-stream when shutdown came before any byte.
    fn poll_silence(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.seen_byte && self.shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        let (limit, what) = match self.seen_byte {
            false => (self.timeouts.first_byte, "sent nothing"),
            true => (self.timeouts.idle, "was idle"),
        };
        let deadline = self.last_read + limit;
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the connection {what} for {limit:?}; closed"),
            ))),
        }
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();

    fn connect_info(&self) {}
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.watch.read();
                Poll::Ready(Ok(()))
            }
            Poll::Pending => this.watch.poll_silence(cx),
            done => done,
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
