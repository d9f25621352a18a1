//! A private Sentinel set per test: [`dogpile_servers::RedisSentinelSet`], whose failures fail
//! the test with every process's log.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use crate::server::started;
use crate::tls::TestCertificates;

pub use dogpile_servers::SERVICE;

/// A running Sentinel set owned by the test; its other methods are those of
/// [`dogpile_servers::RedisSentinelSet`].
#[derive(Debug)]
pub struct RedisSentinelSet(dogpile_servers::RedisSentinelSet);

impl RedisSentinelSet {
    /// Starts the set; `password` protects the data servers, `sentinel_password` the
    /// sentinels.
    ///
    /// # Panics
    ///
    /// When `redis-server` is missing (with an install hint) or the set does not form.
    pub fn start(password: Option<&str>, sentinel_password: Option<&str>) -> Self {
        RedisSentinelSet(started(dogpile_servers::RedisSentinelSet::start(password, sentinel_password)))
    }

    /// Starts a set whose servers and sentinels also listen with TLS (`certs`).
    ///
    /// # Panics
    ///
    /// As [`start`](RedisSentinelSet::start).
    pub fn start_tls(certs: &TestCertificates) -> Self {
        RedisSentinelSet(started(dogpile_servers::RedisSentinelSet::start_tls(certs)))
    }

    /// Waits until the sentinels can agree on a failover.
    ///
    /// # Panics
    ///
    /// When that does not happen within `within`.
    pub fn wait_until_failover_ready(&self, within: Duration) {
        started(self.0.wait_until_failover_ready(within));
    }

    /// Kills the current primary (SIGKILL) and returns its port.
    ///
    /// # Panics
    ///
    /// When the sentinels name no live server.
    pub fn kill_primary(&mut self) -> u16 {
        started(self.0.kill_primary())
    }

    /// Waits until the sentinels name a primary other than `old` and it answers as one.
    ///
    /// # Panics
    ///
    /// When that does not happen within `within`.
    pub fn wait_for_new_primary(&self, old: u16, within: Duration) -> u16 {
        started(self.0.wait_for_new_primary(old, within))
    }

    /// Panics with `message` and every process's log.
    pub fn fail(&self, message: &str) -> ! {
        panic!("{}", self.0.failed(message))
    }
}

impl Deref for RedisSentinelSet {
    type Target = dogpile_servers::RedisSentinelSet;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for RedisSentinelSet {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}
