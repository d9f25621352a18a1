//! The configuration from dogpile's arguments (`configure(name, arguments={...})`): one
//! server, a cluster's startup nodes, a Sentinel set, with the seed's and dogpile.cache's
//! argument names.

use std::time::Duration;

use dogpile::config::{Arguments, ConfigValue};
use dogpile::{Error, Result};

use super::*;

impl RedisConfig {
    /// The configuration of the cluster variants of the backends, from their arguments: as
    /// [`from_arguments`](RedisConfig::from_arguments), with `startup_nodes`, or else `url`
    /// (or `host` and `port`) as the one node to start from, as dogpile's `redis_cluster`
    /// backend takes them.
    ///
    /// # Errors
    ///
    /// As [`from_arguments`](RedisConfig::from_arguments); a `db` other than 0.
    pub fn cluster_from_arguments(args: &Arguments) -> Result<Self> {
        let mut config = RedisConfig::from_arguments(args)?;
        if config.server.db != 0 {
            return Err(Error::config("db", "a Redis Cluster has only database 0"));
        }
        if config.server.deployment == Deployment::One {
            let node = match &config.server.url {
                Some(url) => url.clone(),
                None => format!("{}:{}", config.server.host, config.server.port),
            };
            config.server.deployment = Deployment::Cluster(vec![node]);
        }
        Ok(config)
    }

    /// The configuration of the sentinel variants of the backends, from their arguments, with
    /// dogpile's `redis_sentinel` names: `sentinels` (a list of `host:port` strings or of
    /// `[host, port]` pairs), `service_name` (default `mymaster`), `sentinel_kwargs` (a table
    /// with `password` and `username`) or `sentinel_password`/`sentinel_username`, and the
    /// server's `password`, `username`, `db`.
    ///
    /// # Errors
    ///
    /// As [`from_arguments`](RedisConfig::from_arguments); missing or malformed `sentinels`.
    pub fn sentinel_from_arguments(args: &Arguments) -> Result<Self> {
        let config = RedisConfig::from_arguments(args)?;
        let Some(value) = args.get("sentinels") else {
            return Err(Error::config("sentinels", "the sentinel backends need `sentinels`: a list of \"host:port\""));
        };
        let sentinels = host_ports("sentinels", value, 26379)?;
        let service = args.get_str("service_name")?.unwrap_or("mymaster").to_owned();
        let mut config = config.sentinel(sentinels, service)?;
        let kwargs = args.get_map("sentinel_kwargs")?;
        let pick = |name: &str, plain: &str| -> Result<Option<String>> {
            match args.get_str(plain)? {
                Some(v) => Ok(Some(v.to_owned())),
                None => Ok(match kwargs {
                    Some(k) => k.get_str(name)?.map(str::to_owned),
                    None => None,
                }),
            }
        };
        if let Some(p) = pick("password", "sentinel_password")? {
            config = config.sentinel_password(p);
        }
        if let Some(u) = pick("username", "sentinel_username")? {
            config = config.sentinel_username(u);
        }
        let sentinel_tls = match args.get_bool("sentinel_ssl")? {
            Some(on) => Some(on),
            None => kwargs.map(|k| k.get_bool("ssl")).transpose()?.flatten(),
        };
        if let Some(on) = sentinel_tls {
            config = config.sentinel_tls(on);
        }
        if let Some(path) = pick("ssl_ca_certs", "sentinel_ssl_ca_certs")? {
            config = config.sentinel_tls_root_certificate(path);
        }
        Ok(config)
    }

    /// The configuration from backend arguments (the names in the crate docs' table). Unknown
    /// keys are ignored here; a region built by name reports them
    /// ([`Arguments::unused_keys`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the argument whose value has the wrong type or range.
    pub fn from_arguments(args: &Arguments) -> Result<Self> {
        let mut config = match args.get_str("url")? {
            Some(url) => RedisConfig::from_url(url),
            None => RedisConfig::new(),
        };
        server_arguments(args, &mut config.server)?;
        connection_arguments(args, &mut config)?;
        config.ttl.expiration = positive(args, "redis_expiration_time")?;
        if let Some(fraction) = args.get_f64("redis_expiration_time_jitter")? {
            config = config.redis_expiration_time_jitter(fraction)?;
        }
        if let Some(policy) = HashTtlPolicy::from_arguments(args)? {
            config.ttl.hash = policy;
        }
        lock_arguments(args, &mut config.lock)?;
        if let Some(name) = args.get_str("compat")? {
            config = config.compat(Compat::from_name(name)?);
        }
        if let Some(prefix) = args.get_str("lock_prefix")? {
            config = config.lock_prefix(prefix)?;
        }
        // Meaningless here (every lock is the process's), but a wrong type is still an error.
        args.get_bool("thread_local_lock")?;
        Ok(config)
    }
}

/// Where the server is, and the credentials: `host`, `port`, `db`, `username`, `password`,
/// `startup_nodes`.
fn server_arguments(args: &Arguments, server: &mut Server) -> Result<()> {
    if let Some(host) = args.get_str("host")? {
        server.host = host.to_owned();
    }
    if let Some(port) = args.get_u64("port")? {
        server.port = u16::try_from(port).map_err(|_| Error::config("port", "expected a port number (0-65535)"))?;
    }
    if let Some(db) = args.get_u64("db")? {
        server.db = i64::try_from(db).map_err(|_| Error::config("db", "expected a database number"))?;
    }
    server.username = args.get_str("username")?.map(str::to_owned);
    server.password = args.get_str("password")?.map(str::to_owned);
    if let Some(nodes) = args.get("startup_nodes") {
        server.deployment = Deployment::Cluster(startup_nodes(nodes)?);
    }
    Ok(())
}

/// The lock group, but for its prefix (which `compat` names too).
fn lock_arguments(args: &Arguments, lock: &mut LockOptions) -> Result<()> {
    if let Some(on) = args.get_bool("distributed_lock")? {
        lock.distributed = on;
    }
    if args.contains("lock_timeout") {
        lock.timeout = positive(args, "lock_timeout")?;
    }
    if let Some(sleep) = args.get_seconds("lock_sleep")? {
        lock.sleep = sleep;
    }
    if let Some(on) = args.get_bool("lock_blocking")? {
        lock.blocking = on;
    }
    lock.blocking_timeout = args.get_seconds("lock_blocking_timeout")?;
    if let Some(on) = args.get_bool("lock_extend")? {
        lock.extend = on;
    }
    if let Some(policy) = args.get_str("lock_lost")? {
        lock.lost = LockLostPolicy::from_name(policy)?;
    }
    Ok(())
}

/// redis-py's connection arguments (the socket group and TLS), flat or in dogpile's
/// `connection_kwargs` (a flat one wins, as in dogpile).
fn connection_arguments(args: &Arguments, config: &mut RedisConfig) -> Result<()> {
    let kwargs = args.get_map("connection_kwargs")?;
    let connection_arg = |name: &str| -> Option<&Arguments> {
        if args.contains(name) { Some(args) } else { kwargs.filter(|k| k.contains(name)) }
    };
    if let Some(from) = connection_arg("socket_timeout") {
        config.socket.timeout = from.get_seconds("socket_timeout")?;
    }
    if let Some(from) = connection_arg("socket_connect_timeout") {
        config.socket.connect_timeout = from.get_seconds("socket_connect_timeout")?;
    }
    let keepalive_options = match connection_arg("socket_keepalive_options") {
        Some(from) => from.get_map("socket_keepalive_options")?.map(Keepalive::from_options).transpose()?,
        None => None,
    };
    if let Some(from) = connection_arg("socket_keepalive")
        && from.get_bool("socket_keepalive")? == Some(true)
    {
        config.socket.keepalive = Some(keepalive_options.unwrap_or_default());
    }
    if let Some(on) = args.get_bool("blocking_io")? {
        config.socket.blocking = on;
    }
    if let Some(on) = args.get_bool("coalesce_reads")? {
        config.socket.coalesce_reads = on;
    }
    if let Some(reads) = args.get_u64("coalesced_reads_in_flight")? {
        config.socket.coalesced_reads_in_flight = reads_in_flight(usize::try_from(reads).unwrap_or(usize::MAX))?;
    }
    if let Some(from) = connection_arg("ssl") {
        config.server.tls = from.get_bool("ssl")?.unwrap_or(false);
    }
    if let Some(from) = connection_arg("ssl_ca_certs")
        && let Some(path) = from.get_str("ssl_ca_certs")?
    {
        config.server.tls_root_certificate = Some(path.into());
    }
    Ok(())
}

/// `host:port` (IPv6 hosts in brackets).
pub(super) fn host_port(name: &str, text: &str) -> Result<(String, u16)> {
    let text = text.trim();
    let parsed = text.rsplit_once(':').and_then(|(host, port)| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (!host.is_empty()).then(|| Some((host.to_owned(), port.parse::<u16>().ok()?))).flatten()
    });
    parsed.ok_or_else(|| Error::config(name, format!("{text:?} is not host:port")))
}

/// A list of `host:port` strings, `[host, port]` pairs or `{host, port}` tables (a table
/// without a port takes `default_port`), or one string of comma-separated `host:port`s; at
/// least one.
fn host_ports(name: &str, value: &ConfigValue, default_port: u64) -> Result<Vec<String>> {
    let expected =
        || Error::config(name, "expected a list of \"host:port\" strings, [host, port] pairs or {host, port} tables");
    let one = |item: &ConfigValue| -> Result<String> {
        match item {
            ConfigValue::Str(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            ConfigValue::List(pair) => match pair.as_slice() {
                [ConfigValue::Str(host), ConfigValue::Int(port)] => Ok(format!("{host}:{port}")),
                _ => Err(expected()),
            },
            ConfigValue::Map(table) => Ok(format!(
                "{}:{}",
                table.get_str("host")?.unwrap_or("localhost"),
                table.get_u64("port")?.unwrap_or(default_port)
            )),
            _ => Err(expected()),
        }
    };
    let nodes: Vec<String> = match value {
        ConfigValue::List(items) => items.iter().map(one).collect::<Result<_>>()?,
        ConfigValue::Str(s) => s.split(',').filter(|n| !n.trim().is_empty()).map(|n| n.trim().to_owned()).collect(),
        _ => return Err(expected()),
    };
    if nodes.is_empty() {
        return Err(Error::config(name, "no node given"));
    }
    Ok(nodes)
}

/// `startup_nodes`: as [`host_ports`], with 6379 as a table's default port.
fn startup_nodes(value: &ConfigValue) -> Result<Vec<String>> {
    host_ports("startup_nodes", value, 6379)
}

fn positive(args: &Arguments, name: &str) -> Result<Option<Duration>> {
    match args.get_seconds(name)? {
        Some(d) if d.is_zero() => {
            Err(Error::config(name, "expected a positive number of seconds; leave it out for no expiration"))
        }
        other => Ok(other),
    }
}
