//! A private Sentinel set per test: a primary, a replica and three sentinels on free ports,
//! stopped on drop. Sentinels run as `redis-server CONF --sentinel` (what Debian's
//! `redis-sentinel` is), so no other binary is needed.

use std::time::{Duration, Instant};

use crate::server::{RedisServer, Reply};

/// The service name the sentinels monitor.
pub const SERVICE: &str = "mymaster";

/// A running Sentinel set owned by the test.
#[derive(Debug)]
pub struct RedisSentinelSet {
    servers: Vec<RedisServer>,
    sentinels: Vec<RedisServer>,
}

impl RedisSentinelSet {
    /// Starts the set; `password` protects the data servers, `sentinel_password` the
    /// sentinels. Waits until the replica is in sync and every sentinel names the primary
    /// (a failover needs more: [`wait_until_failover_ready`](RedisSentinelSet::wait_until_failover_ready)).
    ///
    /// # Panics
    ///
    /// When `redis-server` is missing (with an install hint) or the set does not form.
    pub fn start(password: Option<&str>, sentinel_password: Option<&str>) -> Self {
        // A replica's first sync starts at once, not after the default 5 s wait for others.
        let mut auth: Vec<&str> = vec!["--repl-diskless-sync-delay", "0"];
        if let Some(p) = password {
            auth.extend(["--requirepass", p, "--masterauth", p]);
        }
        let primary = RedisServer::start_configured(&auth, password);
        let primary_port = primary.port().to_string();
        let mut replica_args = auth.clone();
        replica_args.extend(["--replicaof", "127.0.0.1", &primary_port]);
        let replica = RedisServer::start_configured(&replica_args, password);
        let mut config = format!(
            "sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\nsentinel down-after-milliseconds {SERVICE} 1000\n\
             sentinel failover-timeout {SERVICE} 10000\nsentinel parallel-syncs {SERVICE} 1\n"
        );
        if let Some(p) = password {
            config.push_str(&format!("sentinel auth-pass {SERVICE} {p}\n"));
        }
        if let Some(p) = sentinel_password {
            config.push_str(&format!("requirepass {p}\nsentinel sentinel-pass {p}\n"));
        }
        let sentinels = (0..3).map(|_| RedisServer::start_sentinel(&config, sentinel_password)).collect();
        let set = RedisSentinelSet { servers: vec![primary, replica], sentinels };
        set.wait_until(Duration::from_secs(30), false);
        set
    }

    /// Waits until every sentinel also knows the replica and the two other sentinels, which
    /// their hello messages tell them within a few seconds: then they can agree on a failover.
    ///
    /// # Panics
    ///
    /// When that does not happen within `within`.
    pub fn wait_until_failover_ready(&self, within: Duration) {
        self.wait_until(within, true);
    }

    fn wait_until(&self, within: Duration, for_failover: bool) {
        let deadline = Instant::now() + within;
        loop {
            let synced = self.servers[1]
                .command(&["INFO", "replication"])
                .ok()
                .and_then(|r| r.as_text())
                .is_some_and(|info| info.contains("master_link_status:up"));
            let known = self.sentinels.iter().all(|s| {
                let count = |what: &str| match s.command(&["SENTINEL", what, SERVICE]) {
                    Ok(Reply::Array(Some(items))) => items.len(),
                    _ => 0,
                };
                if for_failover {
                    count("replicas") == 1 && count("sentinels") == 2
                } else {
                    matches!(s.command(&["SENTINEL", "get-master-addr-by-name", SERVICE]), Ok(Reply::Array(Some(_))))
                }
            });
            if synced && known {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!("the sentinel set was not ready within {within:?} (failover: {for_failover})"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `host:port` of each sentinel.
    pub fn sentinel_addrs(&self) -> Vec<String> {
        self.sentinels.iter().map(|s| format!("127.0.0.1:{}", s.port())).collect()
    }

    /// The data servers (first the one started as primary).
    pub fn servers(&self) -> &[RedisServer] {
        &self.servers
    }

    /// The port of the primary the sentinels name now.
    pub fn primary_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| match s.command(&["SENTINEL", "get-master-addr-by-name", SERVICE]) {
            Ok(Reply::Array(Some(parts))) => parts.get(1)?.as_text()?.parse().ok(),
            _ => None,
        })
    }

    /// Kills the current primary (SIGKILL) and returns its port.
    ///
    /// # Panics
    ///
    /// When the sentinels name no live server.
    pub fn kill_primary(&mut self) -> u16 {
        let port = self.primary_port().unwrap_or_else(|| self.fail("the sentinels name no primary"));
        match self.servers.iter_mut().find(|s| s.port() == port) {
            Some(server) => server.kill(),
            None => self.fail(&format!("the sentinels name port {port}, which is none of ours")),
        }
        port
    }

    /// Waits until the sentinels name a primary other than `old` and it answers as one.
    ///
    /// # Panics
    ///
    /// When that does not happen within `within`.
    pub fn wait_for_new_primary(&self, old: u16, within: Duration) -> u16 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(port) = self.primary_port().filter(|p| *p != old)
                && let Some(server) = self.servers.iter().find(|s| s.port() == port)
                && server
                    .command(&["INFO", "replication"])
                    .ok()
                    .and_then(|r| r.as_text())
                    .is_some_and(|i| i.contains("role:master"))
            {
                return port;
            }
            if Instant::now() > deadline {
                self.fail(&format!("no new primary within {within:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Panics with `message` and every process's log.
    pub fn fail(&self, message: &str) -> ! {
        let logs: Vec<String> = self
            .servers
            .iter()
            .chain(&self.sentinels)
            .map(|n| format!("--- port {} ---\n{}", n.port(), n.log()))
            .collect();
        panic!("{message}\n{}", logs.join("\n"))
    }
}
