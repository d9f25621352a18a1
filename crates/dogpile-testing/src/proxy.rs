//! A TCP proxy that counts round trips and injects network faults:
//! [`dogpile_servers::CountingProxy`], whose failure to start fails the test. Its other methods
//! are those of [`dogpile_servers::CountingProxy`].

use std::net::SocketAddr;
use std::ops::Deref;

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
}

impl Deref for CountingProxy {
    type Target = dogpile_servers::CountingProxy;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl From<dogpile_servers::CountingProxy> for CountingProxy {
    fn from(proxy: dogpile_servers::CountingProxy) -> Self {
        CountingProxy(proxy)
    }
}
