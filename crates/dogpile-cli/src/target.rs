//! The Redis a measuring command talks to: `--url`, or a private server with `--spawn`.

use dogpile_redis::redis;
use dogpile_testing::RedisServer;

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

    /// A private Valkey 9 server (the harness's `valkey-server`).
    pub fn valkey() -> Result<Self, String> {
        let server = start_private("valkey-server", RedisServer::start_valkey)?;
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

/// Starts a private server, set or cluster with the harness, whose failure (a missing binary,
/// a server that does not come up) is a panic carrying the reason: here an error saying it.
pub fn start_private<T>(what: &str, start: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    std::panic::catch_unwind(start).map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("cannot start {what}: {why}")
    })
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

/// `INFO memory` `used_memory`.
pub async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> Result<u64, String> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await.map_err(|e| e.to_string())?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:")?.trim().parse().ok())
        .ok_or_else(|| "INFO memory has no used_memory".to_string())
}
