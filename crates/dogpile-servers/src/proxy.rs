//! A TCP proxy that counts round trips between a client and a server.
//!
//! A round trip starts each time the client sends bytes after the server last spoke (or for
//! the first time): a pipeline of a hundred commands written at once is one round trip, a
//! command sent after reading the previous reply is another.
//!
//! The proxy also counts the connections it accepts, and can play an unreachable server: while
//! [`refuse`](CountingProxy::refuse) is on, it closes every new connection at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// A counting proxy in front of one server, listening on a free local port.
#[derive(Debug)]
pub struct CountingProxy {
    addr: SocketAddr,
    round_trips: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    refusing: Arc<AtomicBool>,
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
        let refusing = Arc::new(AtomicBool::new(false));
        let accept = tokio::spawn({
            let (round_trips, connections, refusing) =
                (Arc::clone(&round_trips), Arc::clone(&connections), Arc::clone(&refusing));
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    connections.fetch_add(1, Ordering::SeqCst);
                    if refusing.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(upstream).await else { continue };
                    tokio::spawn(relay(client, server, Arc::clone(&round_trips)));
                }
            }
        });
        Ok(CountingProxy { addr, round_trips, connections, refusing, accept })
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

    /// Sets the count back to zero.
    pub fn reset(&self) {
        self.round_trips.store(0, Ordering::SeqCst);
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
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, round_trips: Arc<AtomicUsize>) {
    let server_spoke_last = Arc::new(AtomicBool::new(true));
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = {
        let last = Arc::clone(&server_spoke_last);
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if last.swap(false, Ordering::SeqCst) {
                    round_trips.fetch_add(1, Ordering::SeqCst);
                }
                if server_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            server_spoke_last.store(true, Ordering::SeqCst);
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    tokio::join!(up, down);
}
