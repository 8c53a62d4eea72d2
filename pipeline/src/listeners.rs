//! Listening sockets that outlive one graph. Receivers bind through a
//! [`Listeners`] pool, which keeps a copy of every socket. On reload the next
//! graph binds through the pool's [`successor`](Listeners::successor) and gets
//! the same socket back for every address that did not change, so it never
//! closes: connections that arrive while the graphs swap wait in the backlog
//! and are served by the new receivers.
//!
//! A socket is identified by the address it was asked for (or, for a fixed
//! address, the one it has). Port 0 ("any port") also carries who asked for
//! it (`otlp/grpc`), since two receivers may each ask for one; a reload then
//! keeps the port that was picked.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::net::{TcpListener, TcpSocket};

/// Pending connections the kernel queues per socket (tokio's default).
const BACKLOG: u32 = 1024;

/// The sockets one graph listens on, some perhaps taken over from the
/// graph before it.
#[derive(Debug, Default)]
pub struct Listeners {
    held: Mutex<Vec<Held>>,
}

#[derive(Debug)]
struct Held {
    key: Key,
    socket: std::net::TcpListener,
    /// Handed to a receiver of this graph.
    claimed: bool,
    /// Offered by the graph before this one.
    inherited: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    addr: SocketAddr,
    /// Who asked, for port 0 only.
    owner: Option<String>,
}

impl Key {
    fn new(owner: &str, addr: SocketAddr) -> Key {
        Key {
            addr,
            owner: (addr.port() == 0).then(|| owner.to_owned()),
        }
    }
}

impl Listeners {
    pub fn new() -> Listeners {
        Listeners::default()
    }

    /// A pool for the next graph, offering it this pool's sockets. Sockets
    /// the next graph does not take are closed by
    /// [`release_unclaimed`](Self::release_unclaimed) (its copies) and by
    /// dropping this pool once the old receivers stopped (theirs).
    pub fn successor(&self) -> io::Result<Listeners> {
        let held = self.lock();
        let mut offered = Vec::with_capacity(held.len());
        for h in held.iter() {
            offered.push(Held {
                key: h.key.clone(),
                socket: h.socket.try_clone()?,
                claimed: false,
                inherited: true,
            });
        }
        Ok(Listeners {
            held: Mutex::new(offered),
        })
    }

    /// A listener on `addr`: the offered socket asked for with the same
    /// address (and, for port 0, the same `owner`), or a newly bound one.
    /// Must be called inside the tokio runtime.
    pub fn bind(&self, owner: &str, addr: SocketAddr) -> io::Result<TcpListener> {
        let key = Key::new(owner, addr);
        let mut held = self.lock();
        // A fixed address also matches a socket that got it as "any port".
        let same = |h: &Held| {
            h.key == key || (addr.port() != 0 && h.socket.local_addr().ok() == Some(addr))
        };
        if let Some(h) = held.iter_mut().find(|h| !h.claimed && same(h)) {
            let listener = TcpListener::from_std(h.socket.try_clone()?)?;
            h.claimed = true;
            return Ok(listener);
        }
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let std_listener = socket.listen(BACKLOG)?.into_std()?;
        let copy = std_listener.try_clone()?;
        held.push(Held {
            key,
            socket: copy,
            claimed: true,
            inherited: false,
        });
        TcpListener::from_std(std_listener)
    }

    /// Closes this pool's copies of the offered sockets no receiver took.
    /// Call once the graph is built.
    pub fn release_unclaimed(&self) {
        self.lock().retain(|h| h.claimed);
    }

    /// Where the sockets this graph took over from the last one listen.
    pub fn reused(&self) -> Vec<SocketAddr> {
        self.lock()
            .iter()
            .filter(|h| h.claimed && h.inherited)
            .filter_map(|h| h.socket.local_addr().ok())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Held>> {
        // A panic elsewhere cannot leave the list half-changed.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn any_port() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[tokio::test]
    async fn successor_gets_the_same_socket_back() {
        let first = Listeners::new();
        let a = first.bind("otlp/grpc", any_port()).unwrap();
        let b = first.bind("otlp/http", any_port()).unwrap();
        assert!(
            first.reused().is_empty(),
            "nothing to reuse in the first graph"
        );
        let (addr_a, addr_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_ne!(addr_a, addr_b, "two owners of port 0 get two sockets");

        let next = first.successor().unwrap();
        let a2 = next.bind("otlp/grpc", any_port()).unwrap();
        let b2 = next.bind("otlp/http", any_port()).unwrap();
        assert_eq!(a2.local_addr().unwrap(), addr_a);
        assert_eq!(b2.local_addr().unwrap(), addr_b);
        assert_eq!(next.reused().len(), 2);
    }

    #[tokio::test]
    async fn a_fixed_port_is_reused_whoever_asks() {
        let first = Listeners::new();
        let a = first.bind("otlp/http", any_port()).unwrap();
        let fixed = a.local_addr().unwrap();
        // The same address asked for by name: in use, so only reuse works.
        let next = first.successor().unwrap();
        let b = next.bind("otlp/main/http", fixed).unwrap();
        assert_eq!(b.local_addr().unwrap(), fixed);
        // Asked twice in one graph: the second is a real bind, and fails.
        let err = next.bind("other/http", fixed).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }

    /// The old receiver stops, a client connects before the new one runs:
    /// the connection waits in the backlog and the new receiver serves it.
    #[tokio::test]
    async fn connections_during_the_swap_are_served_by_the_next_graph() {
        let first = Listeners::new();
        let old = first.bind("otlp/http", any_port()).unwrap();
        let addr = old.local_addr().unwrap();
        let next = first.successor().unwrap();
        let new = next.bind("otlp/http", any_port()).unwrap();
        next.release_unclaimed();
        drop(old);
        drop(first);

        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client.write_all(b"ping").await.unwrap();
        let (mut conn, _) = tokio::time::timeout(Duration::from_secs(10), new.accept())
            .await
            .expect("accepted in time")
            .unwrap();
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
    }

    /// A socket the next graph does not take is closed once the old graph
    /// lets go of it too.
    #[tokio::test]
    async fn unclaimed_sockets_close() {
        let first = Listeners::new();
        let old = first.bind("otlp/http", any_port()).unwrap();
        let addr = old.local_addr().unwrap();
        let next = first.successor().unwrap();
        assert!(next.reused().is_empty());
        next.release_unclaimed();
        drop(old);
        drop(first);
        let refused = tokio::net::TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        // And the address is free for a new bind.
        let again = next.bind("otlp/http", addr).unwrap();
        assert_eq!(again.local_addr().unwrap(), addr);
    }
}
