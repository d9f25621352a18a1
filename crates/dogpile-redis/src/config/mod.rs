//! The backends' configuration, with the seed's argument names.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use dogpile::codec::Compat;
use dogpile::config::redact_url;
use dogpile::{Error, Result};

use crate::socket::Keepalive;
use crate::ttl::HashTtlPolicy;

mod arguments;

use arguments::host_port;

/// What to do when a distributed lock vanished before its holder released it (it expired, or
/// the server was flushed): the seed's `lock_class` need, as a policy.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum LockLostPolicy {
    /// Carry on (the value was created and stored all the same).
    #[default]
    Ignore,
    /// Return [`Error::LockLost`](dogpile::Error::LockLost) to the creating caller.
    Error,
    /// Call the function with the lock's name, then carry on.
    Callback(Arc<dyn Fn(&str) + Send + Sync>),
}

impl LockLostPolicy {
    /// A callback policy.
    pub fn callback(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        LockLostPolicy::Callback(Arc::new(f))
    }

    fn from_name(name: &str) -> Result<Self> {
        match name {
            "ignore" => Ok(LockLostPolicy::Ignore),
            "error" | "raise" => Ok(LockLostPolicy::Error),
            other => Err(Error::config(
                "lock_lost",
                format!("unknown policy {other:?}; expected \"ignore\" or \"error\" (callbacks are set in code)"),
            )),
        }
    }
}

impl fmt::Debug for LockLostPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockLostPolicy::Ignore => "Ignore",
            LockLostPolicy::Error => "Error",
            LockLostPolicy::Callback(_) => "Callback(..)",
        })
    }
}

/// Configuration of [`RedisAdvancedBackend`](crate::RedisAdvancedBackend) and
/// [`RedisAdvancedHstoreBackend`](crate::RedisAdvancedHstoreBackend).
///
/// Build it in code, or from configuration arguments with [`RedisConfig::from_arguments`]
/// (the names in the crate documentation's table). `Debug` output hides the password and the
/// credentials in the URL.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use dogpile_redis::RedisConfig;
///
/// let config = RedisConfig::from_url("redis://:s3cret@cache.internal:6379/2")
///     .redis_expiration_time(Duration::from_secs(3600))
///     .distributed_lock(true);
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisConfig {
    pub(crate) url: Option<String>,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) db: i64,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) socket_timeout: Option<Duration>,
    pub(crate) socket_connect_timeout: Option<Duration>,
    pub(crate) redis_expiration_time: Option<Duration>,
    pub(crate) redis_expiration_time_hash: HashTtlPolicy,
    pub(crate) redis_expiration_time_jitter: f64,
    pub(crate) distributed_lock: bool,
    pub(crate) lock_timeout: Option<Duration>,
    pub(crate) lock_sleep: Duration,
    pub(crate) lock_blocking: bool,
    pub(crate) lock_blocking_timeout: Option<Duration>,
    pub(crate) lock_prefix: String,
    pub(crate) lock_extend: bool,
    pub(crate) lock_lost: LockLostPolicy,
    pub(crate) tls_root_certificate: Option<std::path::PathBuf>,
    /// The servers speak TLS (implied by a `rediss://` URL).
    pub(crate) tls: bool,
    /// Redis Cluster: the startup nodes (`host:port` or URLs); `None` for one server.
    pub(crate) cluster_nodes: Option<Vec<String>>,
    /// Sentinel: the sentinels (`host:port`) and the credentials they take.
    pub(crate) sentinel: Option<SentinelConfig>,
    /// TCP keepalive probes on every connection.
    pub(crate) socket_keepalive: Option<Keepalive>,
    /// A client or connection the caller made, used instead of the address.
    pub(crate) given: Option<Given>,
}

/// Why a feature that opens connections of its own refuses a given connection.
pub(crate) const NEEDS_A_CLIENT: &str =
    "this needs connections of its own, which a given connection cannot open: give RedisConfig::client instead";

/// What the caller gave to connect through (dogpile's `connection_pool`).
#[derive(Clone)]
pub(crate) enum Given {
    /// Connections are made from this client.
    Client(Box<redis::Client>),
    /// The backend sends its commands over this connection, shared with the caller.
    Connection(redis::aio::ConnectionManager),
}

/// Where the sentinels are, which service they watch, and their own credentials.
#[derive(Clone, PartialEq)]
pub(crate) struct SentinelConfig {
    pub(crate) sentinels: Vec<(String, u16)>,
    pub(crate) service_name: String,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    /// The sentinels speak TLS.
    pub(crate) tls: bool,
    /// The CA to trust for the sentinels, when not the servers' one.
    pub(crate) tls_root_certificate: Option<std::path::PathBuf>,
}

/// The reply and connection timeouts when none is configured: a server that stopped
/// answering fails a call after this long, never hangs it.
pub const DEFAULT_SOCKET_TIMEOUT: Duration = Duration::from_secs(5);

/// The lock TTL when none is configured: a crashed holder's lock is taken over after this.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: None,
            host: "localhost".into(),
            port: 6379,
            db: 0,
            username: None,
            password: None,
            socket_timeout: Some(DEFAULT_SOCKET_TIMEOUT),
            socket_connect_timeout: Some(DEFAULT_SOCKET_TIMEOUT),
            redis_expiration_time: None,
            redis_expiration_time_hash: HashTtlPolicy::OnCreate,
            redis_expiration_time_jitter: 0.0,
            distributed_lock: false,
            lock_timeout: Some(DEFAULT_LOCK_TIMEOUT),
            lock_sleep: Duration::from_millis(100),
            lock_blocking: true,
            lock_blocking_timeout: None,
            lock_prefix: "_lock".into(),
            lock_extend: true,
            lock_lost: LockLostPolicy::Ignore,
            tls_root_certificate: None,
            tls: false,
            cluster_nodes: None,
            sentinel: None,
            socket_keepalive: None,
            given: None,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty => $field:ident = $value:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, $field: $ty) -> Self {
            self.$field = $value;
            self
        }
    )*};
}

impl RedisConfig {
    /// `redis://localhost:6379/0` and the defaults of the table in the crate docs.
    pub fn new() -> Self {
        RedisConfig::default()
    }

    /// TCP keepalive probes on every connection (redis-py's `socket_keepalive` with
    /// `socket_keepalive_options`).
    pub fn socket_keepalive(mut self, keepalive: Keepalive) -> Self {
        self.socket_keepalive = Some(keepalive);
        self
    }

    /// Makes the connections from `client` (dogpile's `connection_pool`): its address,
    /// credentials, TLS and protocol settings are used, and the ones of this configuration
    /// for the server are not. Not with Sentinel or a cluster.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile_redis::{RedisAdvancedBackend, RedisConfig};
    ///
    /// let client = redis::Client::open("redis://127.0.0.1:6379/0")?;
    /// let backend = RedisAdvancedBackend::new(RedisConfig::new().client(client))?;
    /// # let _ = backend;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn client(mut self, client: redis::Client) -> Self {
        self.given = Some(Given::Client(Box::new(client)));
        self
    }

    /// Sends the backend's commands over `connection`, a connection the caller made and
    /// shares (it reconnects by itself). The L1's key tracking and fleet-wide invalidation
    /// need connections of their own: give a [`client`](RedisConfig::client) for those.
    /// Not with Sentinel or a cluster.
    pub fn connection(mut self, connection: redis::aio::ConnectionManager) -> Self {
        self.given = Some(Given::Connection(connection));
        self
    }

    /// Connects to `url` (`redis://[user:password@]host:port/db` or `rediss://` for TLS);
    /// host, port, db and credentials given separately are then ignored.
    pub fn from_url(url: impl Into<String>) -> Self {
        RedisConfig { url: Some(url.into()), ..RedisConfig::default() }
    }

    setters! {
        /// The server's host (without `url`).
        host: impl Into<String> => host = host.into();
        /// The server's port (without `url`).
        port: u16 => port = port;
        /// The database number (without `url`).
        db: i64 => db = db;
        /// The ACL user name.
        username: impl Into<String> => username = Some(username.into());
        /// The password.
        password: impl Into<String> => password = Some(password.into());
        /// How long to wait for a reply before the command fails with a timeout (default 5 s).
        socket_timeout: Duration => socket_timeout = Some(socket_timeout);
        /// How long to wait for a connection (default 5 s).
        socket_connect_timeout: Duration => socket_connect_timeout = Some(socket_connect_timeout);
        /// A Redis TTL on every value written (SET with EX or PX; fractions of a second use PX).
        redis_expiration_time: Duration => redis_expiration_time = Some(redis_expiration_time);
        /// When hashes get the TTL (hstore backend only).
        redis_expiration_time_hash: HashTtlPolicy => redis_expiration_time_hash = redis_expiration_time_hash;
        /// Use a lock in Redis, shared by every process, for the dogpile lock.
        distributed_lock: bool => distributed_lock = distributed_lock;
        /// The lock's TTL in Redis (default 30 s); a long creator keeps extending it.
        lock_timeout: Duration => lock_timeout = Some(lock_timeout);
        /// How long to sleep between attempts while waiting for the lock (default 0.1 s).
        lock_sleep: Duration => lock_sleep = lock_sleep;
        /// Whether waiting for the lock waits at all (default true).
        lock_blocking: bool => lock_blocking = lock_blocking;
        /// The longest wait for the lock (default: no limit).
        lock_blocking_timeout: Duration => lock_blocking_timeout = Some(lock_blocking_timeout);
        /// Whether a holder extends its lock while its creator runs (default true).
        lock_extend: bool => lock_extend = lock_extend;
        /// What to do when a lock vanished during creation.
        lock_lost: LockLostPolicy => lock_lost = lock_lost;
    }

    /// Talks to a Redis Cluster that these nodes belong to (`host:port`, or `redis://` URLs that
    /// may carry credentials); the client discovers the others. The credentials of
    /// [`username`](RedisConfig::username) and [`password`](RedisConfig::password) apply to
    /// nodes given as `host:port`. A cluster has only database 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile_redis::RedisConfig;
    ///
    /// let config = RedisConfig::new().cluster(["10.0.0.1:7000", "10.0.0.2:7000"]).password("s3cret");
    /// assert!(config.is_cluster());
    /// assert!(!format!("{config:?}").contains("s3cret"));
    /// ```
    pub fn cluster<S: Into<String>>(mut self, nodes: impl IntoIterator<Item = S>) -> Self {
        self.cluster_nodes = Some(nodes.into_iter().map(Into::into).collect());
        self
    }

    /// Whether this configuration talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster_nodes.is_some()
    }

    /// Finds the primary of `service_name` through these sentinels (`host:port`), and follows
    /// it when a replica is promoted. The server credentials ([`password`](RedisConfig::password),
    /// [`username`](RedisConfig::username)) and [`db`](RedisConfig::db) apply to the primary;
    /// the sentinels' own are [`sentinel_password`](RedisConfig::sentinel_password) and
    /// [`sentinel_username`](RedisConfig::sentinel_username).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a sentinel that is not `host:port`, or none.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile_redis::RedisConfig;
    ///
    /// let config = RedisConfig::new()
    ///     .sentinel(["10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"], "mymaster")?
    ///     .password("s3cret")
    ///     .db(2);
    /// assert!(config.is_sentinel());
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn sentinel<S: AsRef<str>>(
        mut self,
        sentinels: impl IntoIterator<Item = S>,
        service_name: impl Into<String>,
    ) -> Result<Self> {
        let sentinels =
            sentinels.into_iter().map(|s| host_port("sentinels", s.as_ref())).collect::<Result<Vec<_>>>()?;
        if sentinels.is_empty() {
            return Err(Error::config("sentinels", "no sentinel given"));
        }
        let old = self.sentinel.take();
        self.sentinel = Some(SentinelConfig {
            sentinels,
            service_name: service_name.into(),
            username: old.as_ref().and_then(|o| o.username.clone()),
            password: old.as_ref().and_then(|o| o.password.clone()),
            tls: old.as_ref().is_some_and(|o| o.tls),
            tls_root_certificate: old.and_then(|o| o.tls_root_certificate),
        });
        Ok(self)
    }

    /// Whether the sentinels themselves are reached with TLS (dogpile's `sentinel_kwargs`'
    /// `ssl`; feature `tls`). They are checked against
    /// [`sentinel_tls_root_certificate`](RedisConfig::sentinel_tls_root_certificate), else the
    /// servers' [`tls_root_certificate`](RedisConfig::tls_root_certificate), else the system's
    /// roots. Set it after [`sentinel`](RedisConfig::sentinel); TLS to the servers is
    /// [`tls`](RedisConfig::tls).
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile_redis::RedisConfig;
    ///
    /// let config = RedisConfig::new()
    ///     .sentinel(["sentinel-1:26380", "sentinel-2:26380"], "cache")?
    ///     .sentinel_tls(true)
    ///     .tls(true)
    ///     .tls_root_certificate("/etc/ssl/cache-ca.pem");
    /// assert!(format!("{config:?}").contains("tls: true"));
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn sentinel_tls(mut self, on: bool) -> Self {
        if let Some(sentinel) = &mut self.sentinel {
            sentinel.tls = on;
        }
        self
    }

    /// The CA certificate (PEM) to trust for the sentinels, when it is not the servers' one;
    /// set it after [`sentinel`](RedisConfig::sentinel).
    pub fn sentinel_tls_root_certificate(mut self, pem_file: impl Into<std::path::PathBuf>) -> Self {
        if let Some(sentinel) = &mut self.sentinel {
            sentinel.tls_root_certificate = Some(pem_file.into());
        }
        self
    }

    /// Whether the servers are reached with TLS (redis-py's `ssl`; feature `tls`): for one
    /// server, the same as a `rediss://` URL; behind Sentinel, the primary the sentinels name.
    /// The server certificate is checked against
    /// [`tls_root_certificate`](RedisConfig::tls_root_certificate), else the system's roots.
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// The password the sentinels require (dogpile's `sentinel_kwargs`' `password`); set it
    /// after [`sentinel`](RedisConfig::sentinel).
    pub fn sentinel_password(mut self, password: impl Into<String>) -> Self {
        if let Some(sentinel) = &mut self.sentinel {
            sentinel.password = Some(password.into());
        }
        self
    }

    /// The ACL user of the sentinels; set it after [`sentinel`](RedisConfig::sentinel).
    pub fn sentinel_username(mut self, username: impl Into<String>) -> Self {
        if let Some(sentinel) = &mut self.sentinel {
            sentinel.username = Some(username.into());
        }
        self
    }

    /// Spreads the Redis TTLs: each value (or hash) written gets `redis_expiration_time`
    /// shortened by a random part of up to `fraction` (0 to 1), so that values written
    /// together do not all leave Redis together. Off (0) by default.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `fraction` is not from 0 up to (not including) 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use dogpile_redis::RedisConfig;
    ///
    /// // TTLs between 54 and 60 minutes.
    /// let config = RedisConfig::from_url("redis://127.0.0.1:6379/0")
    ///     .redis_expiration_time(Duration::from_secs(3600))
    ///     .redis_expiration_time_jitter(0.1)?;
    /// # let _ = config;
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn redis_expiration_time_jitter(mut self, fraction: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&fraction) {
            return Err(Error::config(
                "redis_expiration_time_jitter",
                format!("{fraction} is not a fraction: give a number from 0 up to (not including) 1"),
            ));
        }
        self.redis_expiration_time_jitter = fraction;
        Ok(self)
    }

    /// Whether this configuration finds its server through Sentinel.
    pub fn is_sentinel(&self) -> bool {
        self.sentinel.is_some()
    }

    /// The URLs of the cluster's startup nodes, credentials included (never print them).
    pub(crate) fn cluster_urls(&self) -> Vec<String> {
        let auth = self.userinfo();
        self.cluster_nodes
            .iter()
            .flatten()
            .map(|node| {
                if node.starts_with("redis://") || node.starts_with("rediss://") {
                    node.clone()
                } else {
                    format!("redis://{auth}{node}")
                }
            })
            .collect()
    }

    fn userinfo(&self) -> String {
        match (&self.username, &self.password) {
            (Some(user), Some(pass)) => format!("{}:{}@", percent(user), percent(pass)),
            (None, Some(pass)) => format!(":{}@", percent(pass)),
            (Some(user), None) => format!("{}@", percent(user)),
            (None, None) => String::new(),
        }
    }

    /// Trusts the CA certificate in this PEM file for `rediss://` (instead of the system's
    /// root certificates); redis-py's `ssl_ca_certs`.
    pub fn tls_root_certificate(mut self, pem_file: impl Into<std::path::PathBuf>) -> Self {
        self.tls_root_certificate = Some(pem_file.into());
        self
    }

    /// Locks carry no TTL in Redis (the seed's default; a crashed holder's lock then stays
    /// until deleted by hand). Not recommended.
    pub fn lock_without_timeout(mut self) -> Self {
        self.lock_timeout = None;
        self
    }

    /// The prefix of lock names (default `_lock`); the lock of key `k` is `{prefix}k`, of hash
    /// key `(h, f)` `{prefix}h,f`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty prefix or one with spaces or control characters.
    pub fn lock_prefix(mut self, prefix: impl Into<String>) -> Result<Self> {
        let prefix = prefix.into();
        if prefix.is_empty() || prefix.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Error::config(
                "lock_prefix",
                format!("{prefix:?} is not a usable prefix: give one or more printable characters without spaces"),
            ));
        }
        self.lock_prefix = prefix;
        Ok(self)
    }

    /// Names locks as the Python deployment `compat` does (`_lok.` for plugin 0.5.0, `_lock`
    /// for the others), so that both exclude each other. A later [`lock_prefix`] overrides it.
    /// The codec of that deployment is the region's: see [`Compat::codec`].
    ///
    /// [`lock_prefix`]: RedisConfig::lock_prefix
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::codec::Compat;
    /// use dogpile_redis::RedisConfig;
    ///
    /// let config = RedisConfig::from_url("redis://127.0.0.1:6379/0").compat(Compat::Seed05).distributed_lock(true);
    /// assert!(format!("{config:?}").contains("_lok."));
    /// ```
    pub fn compat(mut self, compat: Compat) -> Self {
        self.lock_prefix = compat.lock_prefix().to_owned();
        self
    }

    /// The URL the client connects to, credentials included (never print it; see
    /// [`RedisConfig::redacted_url`]).
    pub(crate) fn connection_url(&self) -> String {
        if let Some(url) = &self.url {
            return match url.strip_prefix("redis://") {
                Some(rest) if self.tls => format!("rediss://{rest}"),
                _ => url.clone(),
            };
        }
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://{}{}:{}/{}", self.userinfo(), self.host, self.port, self.db)
    }

    /// A feature that opens connections of its own (key tracking, invalidation messages)
    /// cannot work over a given connection alone.
    pub(crate) fn needs_own_connections(&self, feature: &str) -> Result<()> {
        match self.given {
            Some(Given::Connection(_)) => Err(Error::config(feature, NEEDS_A_CLIENT)),
            _ => Ok(()),
        }
    }

    /// The URL with the password hidden (on a cluster, the startup nodes').
    pub fn redacted_url(&self) -> String {
        match &self.given {
            Some(Given::Client(client)) => {
                return format!("the given client's server ({})", client.get_connection_info().addr());
            }
            Some(Given::Connection(_)) => return "the given connection's server".to_owned(),
            None => {}
        }
        if let Some(sentinel) = &self.sentinel {
            let nodes: Vec<String> = sentinel.sentinels.iter().map(|(h, p)| format!("{h}:{p}")).collect();
            return format!("sentinel://{}/{}/{}", nodes.join(","), sentinel.service_name, self.db);
        }
        match &self.cluster_nodes {
            Some(_) => self.cluster_urls().iter().map(|u| redact_url(u)).collect::<Vec<_>>().join(","),
            None => redact_url(&self.connection_url()),
        }
    }
}

fn percent(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let RedisConfig {
            url: _,
            host: _,
            port: _,
            db: _,
            username,
            password,
            socket_timeout,
            socket_connect_timeout,
            redis_expiration_time,
            redis_expiration_time_hash,
            redis_expiration_time_jitter,
            distributed_lock,
            lock_timeout,
            lock_sleep,
            lock_blocking,
            lock_blocking_timeout,
            lock_prefix,
            lock_extend,
            lock_lost,
            tls_root_certificate,
            tls,
            cluster_nodes: _,
            sentinel,
            socket_keepalive,
            given,
        } = self;
        f.debug_struct("RedisConfig")
            .field(if self.is_cluster() { "cluster" } else { "url" }, &self.redacted_url())
            .field("username", username)
            .field("password", &password.as_ref().map(|_| "<redacted>"))
            .field("socket_timeout", socket_timeout)
            .field("socket_connect_timeout", socket_connect_timeout)
            .field("redis_expiration_time", redis_expiration_time)
            .field("redis_expiration_time_hash", redis_expiration_time_hash)
            .field("redis_expiration_time_jitter", redis_expiration_time_jitter)
            .field("distributed_lock", distributed_lock)
            .field("lock_timeout", lock_timeout)
            .field("lock_sleep", lock_sleep)
            .field("lock_blocking", lock_blocking)
            .field("lock_blocking_timeout", lock_blocking_timeout)
            .field("lock_prefix", lock_prefix)
            .field("lock_extend", lock_extend)
            .field("lock_lost", lock_lost)
            .field("tls", tls)
            .field("tls_root_certificate", tls_root_certificate)
            .field("sentinel", sentinel)
            .field("socket_keepalive", socket_keepalive)
            .field(
                "given",
                &given.as_ref().map(|g| match g {
                    Given::Client(_) => "a client",
                    Given::Connection(_) => "a connection",
                }),
            )
            .finish()
    }
}

impl fmt::Debug for SentinelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SentinelConfig { sentinels, service_name, username, password, tls, tls_root_certificate } = self;
        f.debug_struct("Sentinel")
            .field("sentinels", sentinels)
            .field("service_name", service_name)
            .field("username", username)
            .field("password", &password.as_ref().map(|_| "<redacted>"))
            .field("tls", tls)
            .field("tls_root_certificate", tls_root_certificate)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dogpile::config::{Arguments, ConfigValue};

    #[test]
    fn arguments_with_the_seed_names() {
        let args = Arguments::new()
            .with("host", "cache")
            .with("port", 6380)
            .with("db", 3)
            .with("password", "pw")
            .with("redis_expiration_time", 60)
            .with("redis_expiration_time_hash", true)
            .with("distributed_lock", true)
            .with("lock_timeout", 5)
            .with("lock_sleep", 0.05)
            .with("lock_prefix", "_")
            .with("loads", "ignored")
            .with("lock_lost", "error");
        let config = RedisConfig::from_arguments(&args).unwrap();
        assert_eq!(config.connection_url(), "redis://:pw@cache:6380/3");
        assert_eq!(config.redis_expiration_time, Some(Duration::from_secs(60)));
        assert_eq!(config.redis_expiration_time_hash, HashTtlPolicy::OnEveryWrite);
        assert_eq!(config.lock_sleep, Duration::from_millis(50));
        assert_eq!(config.lock_prefix, "_");
        assert!(matches!(config.lock_lost, LockLostPolicy::Error));
        let shown = format!("{config:?}");
        assert!(!shown.contains("pw@") && shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn bad_values_name_the_argument() {
        for (key, value) in [("port", "x"), ("redis_expiration_time", "soon"), ("distributed_lock", "maybe")] {
            let err = RedisConfig::from_arguments(&Arguments::new().with(key, value)).unwrap_err();
            assert!(err.to_string().contains(&format!("`{key}`")), "{err}");
        }
        assert!(RedisConfig::from_arguments(&Arguments::new().with("lock_prefix", "")).is_err());
        assert!(RedisConfig::from_arguments(&Arguments::new().with("lock_prefix", "a b")).is_err());
        assert!(RedisConfig::from_arguments(&Arguments::new().with("redis_expiration_time", 0)).is_err());
    }

    #[test]
    fn hash_policy_from_none_true_false() {
        let none = Arguments::new().with("redis_expiration_time_hash", dogpile::config::ConfigValue::None);
        assert_eq!(RedisConfig::from_arguments(&none).unwrap().redis_expiration_time_hash, HashTtlPolicy::OnCreate);
        let off = Arguments::new().with("redis_expiration_time_hash", false);
        assert_eq!(RedisConfig::from_arguments(&off).unwrap().redis_expiration_time_hash, HashTtlPolicy::Never);
    }

    #[test]
    fn compat_names_the_locks_and_lock_prefix_overrides_it() {
        let seed05 = RedisConfig::from_arguments(&Arguments::new().with("compat", "seed-0.5")).unwrap();
        assert_eq!(seed05.lock_prefix, "_lok.");
        let both = Arguments::new().with("compat", "seed-0.5").with("lock_prefix", "_mine");
        assert_eq!(RedisConfig::from_arguments(&both).unwrap().lock_prefix, "_mine");
        assert_eq!(RedisConfig::new().lock_prefix, "_lock");
        assert!(RedisConfig::from_arguments(&Arguments::new().with("compat", "seed-9")).is_err());
    }

    #[test]
    fn cluster_nodes_from_startup_nodes_or_url() {
        let table =
            |port: i64| dogpile::config::ConfigValue::Map(Arguments::new().with("host", "10.0.0.1").with("port", port));
        let listed = Arguments::new()
            .with("startup_nodes", ConfigValue::List(vec![table(7000), ConfigValue::from("10.0.0.2:7001")]))
            .with("password", "pw");
        let config = RedisConfig::cluster_from_arguments(&listed).unwrap();
        assert_eq!(config.cluster_urls(), ["redis://:pw@10.0.0.1:7000", "redis://:pw@10.0.0.2:7001"]);
        assert!(!format!("{config:?}").contains("pw@"), "{config:?}");
        let from_url = Arguments::new().with("url", "redis://:pw@h:7000/0");
        assert_eq!(RedisConfig::cluster_from_arguments(&from_url).unwrap().cluster_urls(), ["redis://:pw@h:7000/0"]);
        let joined = Arguments::new().with("startup_nodes", "a:1, b:2");
        assert_eq!(
            RedisConfig::cluster_from_arguments(&joined).unwrap().cluster_urls(),
            ["redis://a:1", "redis://b:2"]
        );
        for bad in [ConfigValue::Int(1), ConfigValue::List(vec![]), ConfigValue::List(vec![ConfigValue::Int(3)])] {
            let err = RedisConfig::from_arguments(&Arguments::new().with("startup_nodes", bad)).unwrap_err();
            assert!(err.to_string().contains("`startup_nodes`"), "{err}");
        }
        assert!(RedisConfig::cluster_from_arguments(&Arguments::new().with("db", 2)).is_err());
        assert!(!RedisConfig::new().is_cluster());
    }

    #[test]
    fn sentinel_arguments_with_dogpiles_names() {
        let pair = |h: &str, p: i64| ConfigValue::List(vec![ConfigValue::from(h), ConfigValue::Int(p)]);
        let args = Arguments::new()
            .with("sentinels", ConfigValue::List(vec![pair("10.0.0.1", 26379), ConfigValue::from("10.0.0.2:26380")]))
            .with("service_name", "cache")
            .with("sentinel_kwargs", Arguments::new().with("password", "spw"))
            .with("password", "pw")
            .with("db", 2);
        let config = RedisConfig::sentinel_from_arguments(&args).unwrap();
        let sentinel = config.sentinel.clone().unwrap();
        assert_eq!(sentinel.sentinels, [("10.0.0.1".to_owned(), 26379), ("10.0.0.2".to_owned(), 26380)]);
        assert_eq!(sentinel.service_name, "cache");
        assert_eq!(sentinel.password.as_deref(), Some("spw"));
        assert_eq!(config.db, 2);
        let shown = format!("{config:?}");
        assert!(!shown.contains("spw") && !shown.contains("pw@"), "{shown}");
        assert!(RedisConfig::sentinel_from_arguments(&Arguments::new()).is_err());
        let bad = Arguments::new().with("sentinels", "nohost");
        assert!(RedisConfig::sentinel_from_arguments(&bad).unwrap_err().to_string().contains("`sentinels`"));
        let default_service = Arguments::new().with("sentinels", "a:1");
        assert_eq!(
            RedisConfig::sentinel_from_arguments(&default_service).unwrap().sentinel.unwrap().service_name,
            "mymaster"
        );
    }

    #[test]
    fn socket_timeouts_are_finite_by_default() {
        let config = RedisConfig::new();
        assert_eq!(
            (config.socket_timeout, config.socket_connect_timeout),
            (Some(DEFAULT_SOCKET_TIMEOUT), Some(DEFAULT_SOCKET_TIMEOUT))
        );
        let args = Arguments::new().with("url", "redis://h:1/0");
        let config = RedisConfig::from_arguments(&args).unwrap();
        assert_eq!(config.socket_timeout, Some(DEFAULT_SOCKET_TIMEOUT));
        let args = args.with("socket_timeout", 0.25).with("socket_connect_timeout", 2);
        let config = RedisConfig::from_arguments(&args).unwrap();
        assert_eq!(config.socket_timeout, Some(Duration::from_millis(250)));
        assert_eq!(config.socket_connect_timeout, Some(Duration::from_secs(2)));
    }

    #[test]
    fn tls_from_redis_py_names_flat_or_in_kwargs() {
        let args = Arguments::new()
            .with("sentinels", "s1:26380")
            .with("sentinel_kwargs", Arguments::new().with("ssl", true).with("ssl_ca_certs", "/s.pem"))
            .with("connection_kwargs", Arguments::new().with("ssl", true).with("ssl_ca_certs", "/ca.pem"));
        let config = RedisConfig::sentinel_from_arguments(&args).unwrap();
        let sentinel = config.sentinel.clone().unwrap();
        assert!(config.tls && sentinel.tls);
        assert_eq!(config.tls_root_certificate.as_deref(), Some(std::path::Path::new("/ca.pem")));
        assert_eq!(sentinel.tls_root_certificate.as_deref(), Some(std::path::Path::new("/s.pem")));
        // Flat names win over the kwargs; without any, no TLS.
        let flat = args.clone().with("ssl", false).with("sentinel_ssl", false);
        let config = RedisConfig::sentinel_from_arguments(&flat).unwrap();
        assert!(!config.tls && !config.sentinel.unwrap().tls);
        let plain = RedisConfig::sentinel_from_arguments(&Arguments::new().with("sentinels", "s1:1")).unwrap();
        assert!(!plain.tls && !plain.sentinel.unwrap().tls);
        // One server: `ssl` makes the host/port or the redis:// URL a rediss:// one.
        let one = RedisConfig::from_arguments(&Arguments::new().with("host", "h").with("ssl", true)).unwrap();
        assert_eq!(one.connection_url(), "rediss://h:6379/0");
        let url =
            Arguments::new().with("url", "redis://h:1/2").with("connection_kwargs", Arguments::new().with("ssl", true));
        assert_eq!(RedisConfig::from_arguments(&url).unwrap().connection_url(), "rediss://h:1/2");
        let bad = Arguments::new().with("ssl", "yes please");
        assert!(RedisConfig::from_arguments(&bad).unwrap_err().to_string().contains("`ssl`"));
    }

    #[test]
    fn credentials_are_escaped_and_hidden() {
        let config = RedisConfig::new().username("u").password("p@ss:word");
        assert_eq!(config.connection_url(), "redis://u:p%40ss%3Aword@localhost:6379/0");
        assert_eq!(config.redacted_url(), "redis://u:<redacted>@localhost:6379/0");
    }
}
