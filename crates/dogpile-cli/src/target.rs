//! The Redis a measuring command talks to: `--url`, or a private server with `--spawn`.

use dogpile_redis::redis;
use std::path::Path;

use dogpile_servers::RedisServer;

/// Where to find Redis: given, or started for this run (stopped when dropped).
#[derive(Debug)]
pub struct Target {
    pub url: String,
    _server: Option<RedisServer>,
}

impl Target {
    pub fn new(url: Option<String>, spawn: bool) -> Result<Self, String> {
        match (url, spawn) {
            (Some(url), false) => Ok(Target { url, _server: None }),
            (None, true) => {
                let server = start_private("redis-server", RedisServer::start)?;
                Ok(Target { url: server.url(), _server: Some(server) })
            }
            (Some(_), true) => Err("give either --url or --spawn, not both".into()),
            (None, false) => Err("give --url redis://HOST:PORT or --spawn (a private redis-server)".into()),
        }
    }

    /// A private Valkey 9 server: `binary`, else the one `DOGPILE_VALKEY_SERVER_BIN` names,
    /// else `valkey-server` on `PATH`.
    pub fn valkey(binary: Option<&Path>) -> Result<Self, String> {
        let binary = match binary {
            Some(binary) => binary.to_owned(),
            None => dogpile_servers::valkey_binary().map_err(|e| format!("cannot start valkey-server: {e}"))?,
        };
        let server = start_private("valkey-server", || RedisServer::start_with(&binary, &[]))?;
        Ok(Target { url: server.url(), _server: Some(server) })
    }

    /// `host:port` of the target, for a proxy in front of it.
    pub async fn addr(&self) -> Result<std::net::SocketAddr, String> {
        let info = redis::Client::open(self.url.as_str()).map_err(|e| e.to_string())?;
        let addr = info.get_connection_info().addr().to_string();
        let host_port = addr.trim_start_matches("redis://").trim_start_matches("rediss://");
        tokio::net::lookup_host(host_port)
            .await
            .map_err(|e| format!("cannot resolve {host_port}: {e}"))?
            .next()
            .ok_or_else(|| format!("cannot resolve {host_port}"))
    }

    /// An admin connection (for INFO).
    pub async fn admin(&self) -> Result<redis::aio::MultiplexedConnection, String> {
        let client = redis::Client::open(self.url.as_str()).map_err(|e| e.to_string())?;
        // No reply timeout: FLUSHDB of a million keys takes longer than the default half second.
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
        client.get_multiplexed_async_connection_with_config(&config).await.map_err(|e| format!("cannot connect: {e}"))
    }
}

/// Starts a private server, set or cluster; its failure (a missing binary, with how to
/// install it; a server that does not come up, with its log) as an error saying what.
pub fn start_private<T>(what: &str, start: impl FnOnce() -> dogpile_servers::Result<T>) -> Result<T, String> {
    start().map_err(|err| format!("cannot start {what}: {err}"))
}

/// Total commands the server has run (INFO commandstats), leaving out INFO and CONFIG.
pub async fn command_total(conn: &mut redis::aio::MultiplexedConnection) -> Result<u64, String> {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(conn).await.map_err(|e| e.to_string())?;
    Ok(info
        .lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:") && !l.starts_with("cmdstat_config"))
        .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
        .sum())
}

/// The server's CPU time so far, system and user, in seconds (`INFO cpu`).
pub async fn server_cpu(conn: &mut redis::aio::MultiplexedConnection) -> Result<f64, String> {
    let info: String = redis::cmd("INFO").arg("cpu").query_async(conn).await.map_err(|e| e.to_string())?;
    let field = |name: &str| info.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok());
    match (field("used_cpu_sys:"), field("used_cpu_user:")) {
        (Some(sys), Some(user)) => Ok(sys + user),
        _ => Err("INFO cpu has no used_cpu_sys and used_cpu_user".into()),
    }
}

/// This process's CPU time so far (all its threads, on a CPU), in seconds, from Linux's
/// `/proc/self/task/*/schedstat`; `None` where there is none.
pub fn client_cpu() -> Option<f64> {
    let mut nanos = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        nanos += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(nanos as f64 / 1e9)
}

/// `INFO memory` `used_memory`.
pub async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> Result<u64, String> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await.map_err(|e| e.to_string())?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:")?.trim().parse().ok())
        .ok_or_else(|| "INFO memory has no used_memory".to_string())
}
