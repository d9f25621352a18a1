//! A private Sentinel set: a primary, a replica and three sentinels on free ports,
//! stopped on drop. Sentinels run as `redis-server CONF --sentinel` (what Debian's
//! `redis-sentinel` is), so no other binary is needed.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::resp::Reply;
use crate::server::{RedisServer, free_port};
use crate::tls::Certificates;

/// The service name the sentinels monitor.
pub const SERVICE: &str = "mymaster";

/// A running Sentinel set, stopped on drop.
#[derive(Debug)]
pub struct RedisSentinelSet {
    servers: Vec<RedisServer>,
    sentinels: Vec<RedisServer>,
    /// With TLS, the TLS port of each server and of each sentinel, in their order: the ports
    /// the sentinels name and clients use (the plain ports stay for the harness).
    tls_ports: Option<(Vec<u16>, Vec<u16>)>,
}

impl RedisSentinelSet {
    /// Starts the set; `password` protects the data servers, `sentinel_password` the
    /// sentinels. Waits until the replica is in sync and every sentinel names the primary
    /// (a failover needs more: [`wait_until_failover_ready`](RedisSentinelSet::wait_until_failover_ready)).
    ///
    /// # Errors
    ///
    /// [`Error::Missing`] when `redis-server` is not installed; [`Error::Failed`] with every
    /// process's log when the set does not form.
    pub fn start(password: Option<&str>, sentinel_password: Option<&str>) -> Result<Self> {
        RedisSentinelSet::launch(password, sentinel_password, None)
    }

    /// Starts a set whose servers and sentinels also listen with TLS (`certs`), replicate and
    /// talk to each other over it, and name each other by their TLS ports: a client reaches
    /// the sentinels and the primary only with TLS. The harness keeps using the plain ports.
    ///
    /// # Errors
    ///
    /// As [`start`](RedisSentinelSet::start).
    pub fn start_tls(certs: &Certificates) -> Result<Self> {
        RedisSentinelSet::launch(None, None, Some(certs))
    }

    fn launch(password: Option<&str>, sentinel_password: Option<&str>, tls: Option<&Certificates>) -> Result<Self> {
        // A replica's first sync starts at once, not after the default 5 s wait for others.
        let mut common: Vec<String> = vec!["--repl-diskless-sync-delay".into(), "0".into()];
        if let Some(p) = password {
            common.extend(["--requirepass", p, "--masterauth", p].map(String::from));
        }
        let start_server = |mut args: Vec<String>| -> Result<(RedisServer, Option<u16>)> {
            let tls_port = match tls {
                Some(certs) => {
                    let port = free_port()?;
                    args.extend(certs.server_args(port));
                    args.extend(["--tls-replication".into(), "yes".into()]);
                    Some(port)
                }
                None => None,
            };
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Ok((RedisServer::start_configured(&args, password)?, tls_port))
        };
        let (primary, primary_tls) = start_server(common.clone())?;
        let primary_port = primary_tls.unwrap_or(primary.port()).to_string();
        let mut replica_args = common.clone();
        replica_args.extend(["--replicaof".into(), "127.0.0.1".into(), primary_port.clone()]);
        let (replica, replica_tls) = start_server(replica_args)?;
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
        let mut sentinel_tls = Vec::new();
        let sentinels = (0..3)
            .map(|_| match tls {
                None => RedisServer::start_sentinel(&config, sentinel_password),
                Some(certs) => {
                    let port = free_port()?;
                    sentinel_tls.push(port);
                    let config = format!("{config}{}tls-port {port}\ntls-replication yes\n", certs.config_text());
                    RedisServer::start_sentinel(&config, sentinel_password)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let tls_ports = match (primary_tls, replica_tls) {
            (Some(a), Some(b)) => Some((vec![a, b], sentinel_tls)),
            _ => None,
        };
        let set = RedisSentinelSet { servers: vec![primary, replica], sentinels, tls_ports };
        set.wait_until(Duration::from_secs(30), false)?;
        Ok(set)
    }

    /// The index in `servers` of the server the sentinels know by `port`.
    fn server_at(&self, port: u16) -> Option<usize> {
        match &self.tls_ports {
            Some((servers, _)) => servers.iter().position(|p| *p == port),
            None => self.servers.iter().position(|s| s.port() == port),
        }
    }

    /// Waits until every sentinel also knows the replica and the two other sentinels, which
    /// their hello messages tell them within a few seconds: then they can agree on a failover.
    ///
    /// # Errors
    ///
    /// [`Error::Failed`] when that does not happen within `within`.
    pub fn wait_until_failover_ready(&self, within: Duration) -> Result<()> {
        self.wait_until(within, true)
    }

    fn wait_until(&self, within: Duration, for_failover: bool) -> Result<()> {
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
                return Ok(());
            }
            if Instant::now() > deadline {
                let why = format!("not ready within {within:?} (failover: {for_failover})");
                return Err(self.failed(&why));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `host:port` of each sentinel (its TLS port in a set started with TLS).
    pub fn sentinel_addrs(&self) -> Vec<String> {
        match &self.tls_ports {
            Some((_, sentinels)) => sentinels.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
            None => self.sentinels.iter().map(|s| format!("127.0.0.1:{}", s.port())).collect(),
        }
    }

    /// The data servers (first the one started as primary), reached by the harness on their
    /// plain ports.
    pub fn servers(&self) -> &[RedisServer] {
        &self.servers
    }

    /// The data server the sentinels know by `port` (its TLS port in a set started with TLS).
    pub fn server_named(&self, port: u16) -> Option<&RedisServer> {
        self.server_at(port).map(|i| &self.servers[i])
    }

    /// The port of the primary the sentinels name now (its TLS port in a set started with
    /// TLS).
    pub fn primary_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| match s.command(&["SENTINEL", "get-master-addr-by-name", SERVICE]) {
            Ok(Reply::Array(Some(parts))) => parts.get(1)?.as_text()?.parse().ok(),
            _ => None,
        })
    }

    /// Kills the current primary (SIGKILL) and returns its port.
    ///
    /// # Errors
    ///
    /// [`Error::Failed`] when the sentinels name no live server.
    pub fn kill_primary(&mut self) -> Result<u16> {
        let port = self.primary_port().ok_or_else(|| self.failed("the sentinels name no primary"))?;
        match self.server_at(port) {
            Some(i) => self.servers[i].kill(),
            None => return Err(self.failed(&format!("the sentinels name port {port}, which is none of ours"))),
        }
        Ok(port)
    }

    /// Waits until the sentinels name a primary other than `old` and it answers as one.
    ///
    /// # Errors
    ///
    /// [`Error::Failed`] when that does not happen within `within`.
    pub fn wait_for_new_primary(&self, old: u16, within: Duration) -> Result<u16> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(port) = self.primary_port().filter(|p| *p != old)
                && let Some(i) = self.server_at(port)
                && self.servers[i]
                    .command(&["INFO", "replication"])
                    .ok()
                    .and_then(|r| r.as_text())
                    .is_some_and(|i| i.contains("role:master"))
            {
                return Ok(port);
            }
            if Instant::now() > deadline {
                return Err(self.failed(&format!("no new primary within {within:?}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An error about the set, with every process's log.
    pub fn failed(&self, message: &str) -> Error {
        let logs: Vec<String> = self
            .servers
            .iter()
            .chain(&self.sentinels)
            .map(|n| format!("--- port {} ---\n{}", n.port(), n.log()))
            .collect();
        Error::failed("the Sentinel set", message, logs.join("\n"))
    }
}
