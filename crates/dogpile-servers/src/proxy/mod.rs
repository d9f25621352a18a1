//! A TCP proxy that counts round trips between a client and a server, and breaks the network
//! between them on demand.
//!
//! A round trip starts each time the client sends bytes after the server last spoke (or for
//! the first time): a pipeline of a hundred commands written at once is one round trip, a
//! command sent after reading the previous reply is another.
//!
//! The proxy also counts the connections it accepts, can play an unreachable server (while
//! [`refuse`](CountingProxy::refuse) is on, it closes every new connection at once), and
//! injects the [`NetFault`] given to [`fault`](CountingProxy::fault) until it is lifted.

mod relay;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// A network fault between the proxy's clients and the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetFault {
    /// Every byte is delivered this much later, each way.
    Latency(Duration),
    /// Nothing passes and nothing is closed, as when the peer's host is gone: no reply, no FIN,
    /// no RST. A connection open at any moment of the blackhole stays silent for good, even
    /// after the fault is lifted; connections opened afterwards pass.
    Blackhole,
    /// Each reply is cut after half of its bytes and the connection reset (RST), new
    /// connections' handshakes included.
    Reset,
    /// The server's replies are read at this many bytes a second, as by a client that reads
    /// slowly: they wait in the server's output buffer and arrive late. A read already
    /// waiting when the fault begins keeps its size; the ones after it are slow.
    SlowReader {
        /// The rate the replies are read at.
        bytes_per_second: usize,
    },
}

/// The fault under way and the blackholes so far, shared by every relay.
#[derive(Debug, Default)]
struct Faults {
    current: Mutex<Option<NetFault>>,
    /// Blackholes begun so far: a connection that saw a different count when it opened went
    /// through one.
    blackholes: AtomicUsize,
}

impl Faults {
    fn current(&self) -> Option<NetFault> {
        *self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, fault: Option<NetFault>) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if fault == Some(NetFault::Blackhole) && *current != fault {
            self.blackholes.fetch_add(1, Ordering::SeqCst);
        }
        *current = fault;
    }

    /// What a connection opened now must compare with [`Faults::swallowed`].
    fn mark(&self) -> (usize, bool) {
        (self.blackholes.load(Ordering::SeqCst), self.current() == Some(NetFault::Blackhole))
    }

    /// Whether a connection opened at `mark` is in or went through a blackhole.
    fn swallowed(&self, mark: (usize, bool)) -> bool {
        mark.1 || self.blackholes.load(Ordering::SeqCst) != mark.0
    }
}

/// A counting proxy in front of one server, listening on a free local port.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), dogpile_servers::Error> {
/// use std::time::Duration;
/// use dogpile_servers::{CountingProxy, NetFault, RedisServer};
///
/// let server = RedisServer::start()?;
/// let proxy = CountingProxy::start(server.addr()).await?;
/// // ... point a client at proxy.url(), then:
/// proxy.fault(Some(NetFault::Latency(Duration::from_millis(50))));
/// proxy.fault(None);
/// println!("{} round trips", proxy.round_trips());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct CountingProxy {
    addr: SocketAddr,
    round_trips: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
    refusing: Arc<AtomicBool>,
    faults: Arc<Faults>,
    accept: JoinHandle<()>,
}

impl CountingProxy {
    /// Starts a proxy to `upstream` on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when no local port can be bound.
    pub async fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(Error::io("cannot bind the proxy"))?;
        let addr = listener.local_addr().map_err(Error::io("the proxy's address"))?;
        let round_trips = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let bytes = Arc::new(AtomicUsize::new(0));
        let refusing = Arc::new(AtomicBool::new(false));
        let faults = Arc::new(Faults::default());
        let accept = tokio::spawn({
            let (round_trips, connections, refusing, faults) =
                (Arc::clone(&round_trips), Arc::clone(&connections), Arc::clone(&refusing), Arc::clone(&faults));
            let bytes = Arc::clone(&bytes);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    connections.fetch_add(1, Ordering::SeqCst);
                    if refusing.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let (round_trips, faults, bytes) =
                        (Arc::clone(&round_trips), Arc::clone(&faults), Arc::clone(&bytes));
                    tokio::spawn(async move {
                        let mark = faults.mark();
                        // A blackholed host does not answer the connection either.
                        let server =
                            if faults.swallowed(mark) { None } else { TcpStream::connect(upstream).await.ok() };
                        let Some(server) = server else {
                            relay::swallow(client).await;
                            return;
                        };
                        relay::relay(client, server, relay::Shared { round_trips, bytes, faults, mark }).await;
                    });
                }
            }
        });
        Ok(CountingProxy { addr, round_trips, connections, bytes, refusing, faults, accept })
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `host:port` of the proxy.
    pub fn addr_string(&self) -> String {
        self.addr.to_string()
    }

    /// `redis://` URL of the proxy.
    pub fn url(&self) -> String {
        format!("redis://{}/0", self.addr)
    }

    /// Round trips counted since the start or the last [`reset`](CountingProxy::reset).
    pub fn round_trips(&self) -> usize {
        self.round_trips.load(Ordering::SeqCst)
    }

    /// Bytes relayed, both ways, since the start or the last [`reset`](CountingProxy::reset).
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::SeqCst)
    }

    /// Sets the counts of round trips and bytes back to zero.
    pub fn reset(&self) {
        self.round_trips.store(0, Ordering::SeqCst);
        self.bytes.store(0, Ordering::SeqCst);
    }

    /// Connections accepted since the start (closed ones and refused ones included).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// While `true`, new connections are closed as soon as they are accepted, as by a server
    /// that is going away; connections already relayed are kept.
    pub fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Injects `fault` from now on, in place of the one under way; `None` lifts it (a
    /// blackholed connection stays silent).
    pub fn fault(&self, fault: Option<NetFault>) {
        self.faults.set(fault);
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
