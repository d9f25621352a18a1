//! A TCP proxy that counts round trips: [`dogpile_servers::CountingProxy`], whose failure to
//! start fails the test.

use std::net::SocketAddr;

use crate::server::started;

/// A counting proxy in front of one server ([`dogpile_servers::CountingProxy`]).
#[derive(Debug)]
pub struct CountingProxy(dogpile_servers::CountingProxy);

impl CountingProxy {
    /// Starts a proxy to `upstream` on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// When no local port can be bound.
    pub async fn start(upstream: SocketAddr) -> Self {
        CountingProxy(started(dogpile_servers::CountingProxy::start(upstream).await))
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// `host:port` of the proxy.
    pub fn addr_string(&self) -> String {
        self.0.addr_string()
    }

    /// `redis://` URL of the proxy.
    pub fn url(&self) -> String {
        self.0.url()
    }

    /// Round trips counted since the start or the last [`reset`](CountingProxy::reset).
    pub fn round_trips(&self) -> usize {
        self.0.round_trips()
    }

    /// Sets the count back to zero.
    pub fn reset(&self) {
        self.0.reset();
    }

    /// Connections accepted since the start.
    pub fn connections(&self) -> usize {
        self.0.connections()
    }

    /// While `true`, new connections are closed as soon as they are accepted.
    pub fn refuse(&self, refusing: bool) {
        self.0.refuse(refusing);
    }
}

impl From<dogpile_servers::CountingProxy> for CountingProxy {
    fn from(proxy: dogpile_servers::CountingProxy) -> Self {
        CountingProxy(proxy)
    }
}
