//! A private Redis Cluster per test: [`dogpile_servers::RedisCluster`], whose failures fail the
//! test with every node's log.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use crate::CountingProxy;
use crate::server::started;

pub use dogpile_servers::{CLI_BIN_ENV, redis_cli};

/// A running cluster owned by the test; its other methods are those of
/// [`dogpile_servers::RedisCluster`].
#[derive(Debug)]
pub struct RedisCluster(dogpile_servers::RedisCluster);

impl RedisCluster {
    /// Starts `primaries` primaries with `replicas` replicas each, and waits until the
    /// cluster is ok.
    ///
    /// # Panics
    ///
    /// When a binary is missing (with an install hint) or the cluster does not form.
    pub fn start(primaries: usize, replicas: usize) -> Self {
        RedisCluster(started(dogpile_servers::RedisCluster::start(primaries, replicas)))
    }

    /// Waits until every live node reports `cluster_state:ok`, knows every node, and every
    /// live replica is in sync.
    ///
    /// # Panics
    ///
    /// When that does not happen within `within`.
    pub fn wait_until_ok(&self, within: Duration) {
        started(self.0.wait_until_ok(within));
    }

    /// The slot of `key` (`CLUSTER KEYSLOT`).
    ///
    /// # Panics
    ///
    /// When no node answers.
    pub fn slot_of(&self, key: &str) -> u16 {
        started(self.0.slot_of(key))
    }

    /// The node of the primary that holds `key`.
    ///
    /// # Panics
    ///
    /// When no live primary owns its slot.
    pub fn owner_of_key(&self, key: &str) -> &dogpile_servers::RedisServer {
        started(self.0.owner_of_key(key))
    }

    /// Sends a command to every node.
    ///
    /// # Panics
    ///
    /// When a node fails it.
    pub fn on_every_node(&self, args: &[&str]) {
        started(self.0.on_every_node(args));
    }

    /// Kills the node on `port` (SIGKILL), as a crash would.
    ///
    /// # Panics
    ///
    /// When no node listens on `port`.
    pub fn kill(&mut self, port: u16) {
        assert!(self.0.kill(port), "no cluster node on port {port}");
    }

    /// Promotes the replica on `port` by a manual failover, asking again when Redis abandons
    /// one, and waits until the cluster names it as a primary.
    ///
    /// # Panics
    ///
    /// When the node refuses, or is not promoted within `within`.
    pub fn fail_over(&self, port: u16, within: Duration) {
        started(self.0.fail_over(port, within));
    }

    /// Makes the nodes announce `ports` to clients, and waits until they do.
    ///
    /// # Panics
    ///
    /// When a node refuses, or the new ports do not spread within 20 s.
    pub fn announce_ports(&self, ports: &[u16]) {
        started(self.0.announce_ports(ports));
    }

    /// A [`CountingProxy`] in front of every node, announced to clients, in node order.
    ///
    /// # Panics
    ///
    /// As [`announce_ports`](RedisCluster::announce_ports).
    pub async fn counting_proxies(&self) -> Vec<CountingProxy> {
        started(self.0.counting_proxies().await).into_iter().map(CountingProxy::from).collect()
    }

    /// Panics with `message` and every node's log.
    pub fn fail(&self, message: &str) -> ! {
        panic!("{}", self.0.failed(message))
    }
}

impl Deref for RedisCluster {
    type Target = dogpile_servers::RedisCluster;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for RedisCluster {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}
