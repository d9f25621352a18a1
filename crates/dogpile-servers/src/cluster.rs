//! A private Redis Cluster: primaries and replicas on free ports, made into a cluster with
//! `redis-cli --cluster create`, stopped on drop.
//!
//! The binaries are `redis-server` and `redis-cli` from `PATH`, or those named by
//! `DOGPILE_REDIS_SERVER_BIN` and `DOGPILE_REDIS_CLI_BIN`; [`redis_cli`] runs the latter.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::proxy::CountingProxy;
use crate::resp::Reply;
use crate::server::{RedisServer, SERVER_BIN_ENV};

/// The environment variable that names another `redis-cli` binary.
pub const CLI_BIN_ENV: &str = "DOGPILE_REDIS_CLI_BIN";

const CLI_HINT: &str = "install it with `apt-get install redis-tools` (Debian/Ubuntu) or `brew install redis` \
     (macOS), or point DOGPILE_REDIS_CLI_BIN at a redis-cli binary";

/// Runs `redis-cli` with `args` (`--cluster reshard ...`, say) and returns what it printed.
///
/// # Errors
///
/// [`Error::Missing`] with an install hint when there is no `redis-cli`; [`Error::Io`] when
/// it cannot be run.
pub fn redis_cli(args: &[&str]) -> Result<Output> {
    let cli = std::env::var_os(CLI_BIN_ENV).map(PathBuf::from).unwrap_or_else(|| "redis-cli".into());
    match Command::new(&cli).args(args).stdin(Stdio::null()).output() {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::Missing { binary: cli.display().to_string(), hint: CLI_HINT.into() })
        }
        Err(err) => Err(Error::Io { what: format!("failed to run {}", cli.display()), source: err }),
        Ok(out) => Ok(out),
    }
}

/// A running cluster, stopped on drop.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `primaries` primaries with `replicas` replicas each, and waits until every node
    /// reports `cluster_state:ok` and knows every other.
    ///
    /// # Errors
    ///
    /// [`Error::Missing`] when a binary is not installed; [`Error::Failed`] with every node's
    /// log when the cluster does not form.
    pub fn start(primaries: usize, replicas: usize) -> Result<Self> {
        let binary = std::env::var_os(SERVER_BIN_ENV).map(PathBuf::from).unwrap_or_else(|| "redis-server".into());
        let count = primaries * (1 + replicas);
        let nodes = (0..count)
            .map(|_| {
                RedisServer::start_cluster_node(
                    &binary,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "1000",
                        "--cluster-replica-validity-factor",
                        "0",
                        "--repl-diskless-sync-delay",
                        "0",
                        "--cluster-allow-reads-when-down",
                        "no",
                    ],
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let cluster = RedisCluster { nodes };
        cluster.create(replicas)?;
        cluster.wait_until_ok(Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// Makes the nodes one cluster with `redis-cli --cluster create`. It pauses a second for
    /// the nodes to meet, but the cluster's own start is longer: a primary reports
    /// `cluster_state:ok` no sooner than 2 s after its server started (Redis'
    /// `CLUSTER_WRITABLE_DELAY`), whoever forms the cluster.
    fn create(&self, replicas: usize) -> Result<()> {
        let nodes: Vec<String> = self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(nodes.iter().map(String::as_str));
        let replicas = replicas.to_string();
        args.extend(["--cluster-replicas", &replicas, "--cluster-yes"]);
        let out = redis_cli(&args)?;
        if !out.status.success() {
            return Err(self.failed(&format!(
                "redis-cli --cluster create failed: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    /// Waits until every live node reports `cluster_state:ok` and knows every node, and every
    /// live replica is in sync with its primary.
    ///
    /// # Errors
    ///
    /// [`Error::Failed`] when that does not happen within `within`.
    pub fn wait_until_ok(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            // Killed nodes do not answer and are left out.
            let states: Vec<String> = self
                .nodes
                .iter()
                .filter_map(|n| n.command(&["CLUSTER", "INFO"]).ok().and_then(|r| r.as_text()))
                .collect();
            let ok = states.iter().all(|s| {
                s.contains("cluster_state:ok") && s.contains(&format!("cluster_known_nodes:{}", self.nodes.len()))
            });
            let synced = self.nodes.iter().all(|n| {
                let Some(info) = n.command(&["INFO", "replication"]).ok().and_then(|r| r.as_text()) else {
                    return true;
                };
                !info.contains("role:slave") || info.contains("master_link_status:up")
            });
            if ok && synced {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.failed(&format!("the cluster did not become ok within {within:?}: {states:?}")));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every node, primaries and replicas.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The node on `port`.
    pub fn node(&self, port: u16) -> Option<&RedisServer> {
        self.nodes.iter().find(|n| n.port() == port)
    }

    /// The ports of the live primaries.
    pub fn primaries(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| {
                let info = n.command(&["INFO", "replication"]).ok().and_then(|r| r.as_text()).unwrap_or_default();
                info.contains("role:master")
            })
            .map(RedisServer::port)
            .collect()
    }

    /// The port of the primary that owns `slot`, from a live node's `CLUSTER SLOTS`.
    pub fn owner_of(&self, slot: u16) -> Option<u16> {
        let slot = i64::from(slot);
        self.nodes.iter().filter_map(slot_ranges).find_map(|ranges| {
            let (_, _, port) = ranges.into_iter().find(|(start, end, _)| (*start..=*end).contains(&slot))?;
            u16::try_from(port).ok()
        })
    }

    /// The slot of `key`, as the cluster computes it (`CLUSTER KEYSLOT`).
    ///
    /// # Errors
    ///
    /// [`Error::Failed`] when no node answers.
    pub fn slot_of(&self, key: &str) -> Result<u16> {
        for node in &self.nodes {
            if let Ok(Reply::Int(slot)) = node.command(&["CLUSTER", "KEYSLOT", key]) {
                return u16::try_from(slot).map_err(|_| self.failed(&format!("slot {slot}")));
            }
        }
        Err(self.failed("no node answers CLUSTER KEYSLOT"))
    }

    /// The node of the primary that holds `key`.
    ///
    /// # Errors
    ///
    /// [`Error::Failed`] when no live primary owns its slot.
    pub fn owner_of_key(&self, key: &str) -> Result<&RedisServer> {
        let slot = self.slot_of(key)?;
        self.owner_of(slot)
            .and_then(|port| self.node(port))
            .ok_or_else(|| self.failed(&format!("no live owner of slot {slot} (key {key})")))
    }

    /// `redis://127.0.0.1:PORT` of every node, for a client's startup nodes.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| format!("redis://127.0.0.1:{}", n.port())).collect()
    }

    /// Sends a command to every node (for `CONFIG RESETSTAT` and the like).
    ///
    /// # Errors
    ///
    /// The first node's failure.
    pub fn on_every_node(&self, args: &[&str]) -> Result<()> {
        self.nodes.iter().try_for_each(|node| node.query(args).map(drop))
    }

    /// Kills the node on `port` (SIGKILL), as a crash would; false when no node listens there.
    pub fn kill(&mut self, port: u16) -> bool {
        match self.nodes.iter_mut().find(|n| n.port() == port) {
            Some(node) => {
                node.kill();
                true
            }
            None => false,
        }
    }

    /// Promotes the replica on `port` by a manual failover (`CLUSTER FAILOVER`) and waits until
    /// a live node's `CLUSTER SLOTS` names it as a primary. Redis abandons a manual failover that
    /// does not complete within 5 s (a busy machine, a replica still catching up) and does not
    /// try again, so this asks again every 6 s.
    ///
    /// # Errors
    ///
    /// When the node refuses, or is not promoted within `within`.
    pub fn fail_over(&self, port: u16, within: Duration) -> Result<()> {
        let replica = self.node(port).ok_or_else(|| self.failed(&format!("no cluster node on port {port}")))?;
        let deadline = Instant::now() + within;
        loop {
            replica.query(&["CLUSTER", "FAILOVER"])?;
            let attempt = Instant::now() + Duration::from_secs(6);
            while Instant::now() < attempt.min(deadline) {
                if self.owns_slots(port) {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if Instant::now() >= deadline {
                return Err(self.failed(&format!("the replica on {port} was not promoted within {within:?}")));
            }
        }
    }

    /// Whether a live node's `CLUSTER SLOTS` names `port` as the primary of a range.
    fn owns_slots(&self, port: u16) -> bool {
        let port = i64::from(port);
        self.nodes.iter().filter_map(slot_ranges).any(|ranges| ranges.iter().any(|(_, _, p)| *p == port))
    }

    /// Makes node `i` announce `ports[i]` to clients (`cluster-announce-port`), for a proxy in
    /// front of each node, and waits until every node's `CLUSTER SLOTS` names only those.
    ///
    /// # Errors
    ///
    /// When a node refuses, or the new ports do not spread within 20 s.
    pub fn announce_ports(&self, ports: &[u16]) -> Result<()> {
        for (node, port) in self.nodes.iter().zip(ports) {
            node.query(&["CONFIG", "SET", "cluster-announce-port", &port.to_string()])?;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.announced(ports) {
            if Instant::now() > deadline {
                return Err(self.failed("the nodes did not announce the new ports within 20 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn announced(&self, ports: &[u16]) -> bool {
        self.nodes.iter().all(|node| {
            slot_ranges(node)
                .is_some_and(|ranges| ranges.iter().all(|(_, _, port)| ports.iter().any(|p| i64::from(*p) == *port)))
        })
    }

    /// Puts a [`CountingProxy`] in front of every node (on the current tokio runtime, which
    /// must be multi-threaded) and makes the nodes announce the proxies, so that clients reach
    /// the nodes only through them. The proxies come in node order.
    ///
    /// # Errors
    ///
    /// As [`CountingProxy::start`] and [`announce_ports`](RedisCluster::announce_ports).
    pub async fn counting_proxies(&self) -> Result<Vec<CountingProxy>> {
        let mut proxies = Vec::new();
        for node in &self.nodes {
            proxies.push(CountingProxy::start(node.addr()).await?);
        }
        let ports: Vec<u16> = proxies.iter().map(CountingProxy::port).collect();
        tokio::task::block_in_place(|| self.announce_ports(&ports))?;
        Ok(proxies)
    }

    /// An error about the cluster, with every node's log.
    pub fn failed(&self, message: &str) -> Error {
        let logs: Vec<String> = self.nodes.iter().map(|n| format!("--- node {} ---\n{}", n.port(), n.log())).collect();
        Error::failed("the Redis Cluster", message, logs.join("\n"))
    }
}

/// `node`'s `CLUSTER SLOTS` as (first slot, last slot, primary's port); `None` when it does not
/// answer or a range is not of that shape.
fn slot_ranges(node: &RedisServer) -> Option<Vec<(i64, i64, i64)>> {
    let Ok(Reply::Array(Some(ranges))) = node.command(&["CLUSTER", "SLOTS"]) else { return None };
    ranges
        .iter()
        .map(|range| {
            let Reply::Array(Some(parts)) = range else { return None };
            let (Some(Reply::Int(start)), Some(Reply::Int(end)), Some(Reply::Array(Some(primary)))) =
                (parts.first(), parts.get(1), parts.get(2))
            else {
                return None;
            };
            let Some(Reply::Int(port)) = primary.get(1) else { return None };
            Some((*start, *end, *port))
        })
        .collect()
}
