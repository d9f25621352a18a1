//! The backends' configuration, with the seed's argument names.

use std::fmt;
use std::time::Duration;

use dogpile::codec::Compat;
use dogpile::{Error, Result};

use crate::socket::Keepalive;
use crate::ttl::HashTtlPolicy;

mod arguments;
mod lock;
mod server;

use arguments::host_port;
pub(crate) use lock::LockOptions;
pub use lock::{DEFAULT_LOCK_TIMEOUT, LockLostPolicy};
pub(crate) use server::{Deployment, Given, NEEDS_A_CLIENT, SentinelConfig, Server};

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
#[derive(Clone, Default)]
#[must_use]
pub struct RedisConfig {
    /// Where the servers are and how to reach them.
    pub(crate) server: Server,
    /// The connections' timeouts and keepalive.
    pub(crate) socket: Socket,
    /// The TTLs values get in Redis.
    pub(crate) ttl: RedisTtl,
    /// The dogpile lock in Redis.
    pub(crate) lock: LockOptions,
}

/// The socket group: timeouts and keepalive of every connection, and how reads share one.
#[derive(Clone)]
pub(crate) struct Socket {
    /// How long a reply may take.
    pub(crate) timeout: Option<Duration>,
    /// How long connecting may take.
    pub(crate) connect_timeout: Option<Duration>,
    /// TCP keepalive probes.
    pub(crate) keepalive: Option<Keepalive>,
    /// `blocking_io`: one server's commands block the thread that polls them.
    pub(crate) blocking: bool,
    /// `coalesce_reads`: single-key reads issued while one is out go together.
    pub(crate) coalesce_reads: bool,
    /// `coalesced_reads_in_flight`: how many coalesced reads may be out at once per lane.
    pub(crate) coalesced_reads_in_flight: usize,
}

impl Default for Socket {
    fn default() -> Self {
        Socket {
            timeout: Some(DEFAULT_SOCKET_TIMEOUT),
            connect_timeout: Some(DEFAULT_SOCKET_TIMEOUT),
            keepalive: None,
            blocking: false,
            coalesce_reads: false,
            coalesced_reads_in_flight: 1,
        }
    }
}

/// The TTL group: the Redis TTL of what is written, its jitter, and when hashes get it.
#[derive(Clone, Default)]
pub(crate) struct RedisTtl {
    /// `redis_expiration_time`.
    pub(crate) expiration: Option<Duration>,
    /// `redis_expiration_time_hash`.
    pub(crate) hash: HashTtlPolicy,
    /// `redis_expiration_time_jitter`.
    pub(crate) jitter: f64,
}

/// The reply and connection timeouts when none is configured: a server that stopped
/// answering fails a call after this long, never hangs it.
pub const DEFAULT_SOCKET_TIMEOUT: Duration = Duration::from_secs(5);

/// The most coalesced reads out at once on one connection
/// ([`RedisConfig::coalesced_reads_in_flight`]).
const MOST_COALESCED_READS_IN_FLIGHT: usize = 16;

/// `reads`, if it is a number of coalesced reads out at once that may be configured.
fn reads_in_flight(reads: usize) -> Result<usize> {
    match reads {
        1..=MOST_COALESCED_READS_IN_FLIGHT => Ok(reads),
        _ => Err(Error::config(
            "coalesced_reads_in_flight",
            format!("{reads} is not a number of reads out at once: give 1 to {MOST_COALESCED_READS_IN_FLIGHT}"),
        )),
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty => $group:ident.$field:ident = $value:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, $name: $ty) -> Self {
            self.$group.$field = $value;
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
        self.socket.keepalive = Some(keepalive);
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
        self.server.given = Some(Given::Client(Box::new(client)));
        self
    }

    /// Sends the backend's commands over `connection`, a connection the caller made and
    /// shares (it reconnects by itself). The L1's key tracking and fleet-wide invalidation
    /// need connections of their own: give a [`client`](RedisConfig::client) for those.
    /// Not with Sentinel or a cluster.
    pub fn connection(mut self, connection: redis::aio::ConnectionManager) -> Self {
        self.server.given = Some(Given::Connection(connection));
        self
    }

    /// Connects to `url` (`redis://[user:password@]host:port/db` or `rediss://` for TLS);
    /// host, port, db and credentials given separately are then ignored.
    pub fn from_url(url: impl Into<String>) -> Self {
        let mut config = RedisConfig::default();
        config.server.url = Some(url.into());
        config
    }

    setters! {
        /// The server's host (without `url`).
        host: impl Into<String> => server.host = host.into();
        /// The server's port (without `url`).
        port: u16 => server.port = port;
        /// The database number (without `url`).
        db: i64 => server.db = db;
        /// The ACL user name.
        username: impl Into<String> => server.username = Some(username.into());
        /// The password.
        password: impl Into<String> => server.password = Some(password.into());
        /// How long to wait for a reply before the command fails with a timeout (default 5 s).
        socket_timeout: Duration => socket.timeout = Some(socket_timeout);
        /// How long to wait for a connection (default 5 s).
        socket_connect_timeout: Duration => socket.connect_timeout = Some(socket_connect_timeout);
        /// Sends each command to one server (directly or under Sentinel) and reads its reply on
        /// the thread that polls it, blocking that thread, over a connection of its own (a
        /// cluster keeps its multiplexed connections). For a caller that drives a
        /// single-threaded runtime itself and waits for each call anyway, such as one thread of
        /// a synchronous program: a call then costs a write and a read, with no hand-over to a
        /// driver task. Never on a runtime that other tasks share. Default false.
        blocking_io: bool => socket.blocking = blocking_io;
        /// Gathers the single-key reads (`get`, and the read of `get_or_create`) that callers
        /// issue while a read is out on the connection (on a cluster, to the same node), and
        /// sends them as one multi-key read (one `MGET`, one `HMGET` per hash) when it
        /// returns; callers of one key share its read. A read never joins one already sent, so
        /// a caller reads its own writes; a lone read goes out at once, so one caller's latency
        /// is unchanged. It halves the server's CPU per hit under many concurrent callers and
        /// lowers their p99; see the README for its figures. Default false.
        ///
        /// # Examples
        ///
        /// ```
        /// use dogpile_redis::RedisConfig;
        ///
        /// let config = RedisConfig::from_url("redis://127.0.0.1:6379/0").coalesce_reads(true);
        /// assert!(format!("{config:?}").contains("coalesce_reads: true"));
        /// ```
        coalesce_reads: bool => socket.coalesce_reads = coalesce_reads;
        /// A Redis TTL on every value written (SET with EX or PX; fractions of a second use PX).
        redis_expiration_time: Duration => ttl.expiration = Some(redis_expiration_time);
        /// When hashes get the TTL (hstore backend only).
        redis_expiration_time_hash: HashTtlPolicy => ttl.hash = redis_expiration_time_hash;
        /// Use a lock in Redis, shared by every process, for the dogpile lock.
        distributed_lock: bool => lock.distributed = distributed_lock;
        /// The lock's TTL in Redis (default 30 s); a long creator keeps extending it.
        lock_timeout: Duration => lock.timeout = Some(lock_timeout);
        /// How long to sleep between attempts while waiting for the lock (default 0.1 s).
        lock_sleep: Duration => lock.sleep = lock_sleep;
        /// Whether waiting for the lock waits at all (default true).
        lock_blocking: bool => lock.blocking = lock_blocking;
        /// The longest wait for the lock (default: no limit).
        lock_blocking_timeout: Duration => lock.blocking_timeout = Some(lock_blocking_timeout);
        /// Whether a holder extends its lock while its creator runs (default true).
        lock_extend: bool => lock.extend = lock_extend;
        /// What to do when a lock vanished during creation.
        lock_lost: LockLostPolicy => lock.lost = lock_lost;
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
        self.server.deployment = Deployment::Cluster(nodes.into_iter().map(Into::into).collect());
        self
    }

    /// Whether this configuration talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.server.deployment, Deployment::Cluster(_))
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
        let old = self.server.sentinel().cloned();
        self.server.deployment = Deployment::Sentinel(SentinelConfig {
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
        if let Some(sentinel) = self.server.sentinel_mut() {
            sentinel.tls = on;
        }
        self
    }

    /// The CA certificate (PEM) to trust for the sentinels, when it is not the servers' one;
    /// set it after [`sentinel`](RedisConfig::sentinel).
    pub fn sentinel_tls_root_certificate(mut self, pem_file: impl Into<std::path::PathBuf>) -> Self {
        if let Some(sentinel) = self.server.sentinel_mut() {
            sentinel.tls_root_certificate = Some(pem_file.into());
        }
        self
    }

    /// Whether the servers are reached with TLS (redis-py's `ssl`; feature `tls`): for one
    /// server, the same as a `rediss://` URL; behind Sentinel, the primary the sentinels name.
    /// The server certificate is checked against
    /// [`tls_root_certificate`](RedisConfig::tls_root_certificate), else the system's roots.
    pub fn tls(mut self, on: bool) -> Self {
        self.server.tls = on;
        self
    }

    /// The password the sentinels require (dogpile's `sentinel_kwargs`' `password`); set it
    /// after [`sentinel`](RedisConfig::sentinel).
    pub fn sentinel_password(mut self, password: impl Into<String>) -> Self {
        if let Some(sentinel) = self.server.sentinel_mut() {
            sentinel.password = Some(password.into());
        }
        self
    }

    /// The ACL user of the sentinels; set it after [`sentinel`](RedisConfig::sentinel).
    pub fn sentinel_username(mut self, username: impl Into<String>) -> Self {
        if let Some(sentinel) = self.server.sentinel_mut() {
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
        self.ttl.jitter = fraction;
        Ok(self)
    }

    /// How many coalesced reads may be out at once on one connection (on a cluster, to one
    /// node), with [`coalesce_reads`](RedisConfig::coalesce_reads); default 1.
    ///
    /// With 1, the reads that arrive while one is out wait for it to return and then go
    /// together. With more, a read that arrives while fewer are out goes at once, with the
    /// reads waiting then; the others wait as before. More reads out keep a client that has a
    /// core of its own busy while the server answers, at the cost of smaller batches: more
    /// commands, and more system calls on both sides. Where the client and the server share
    /// the CPUs, 1 does better; see the README for figures.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for 0, or for more than 16.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile_redis::RedisConfig;
    ///
    /// let config = RedisConfig::from_url("redis://127.0.0.1:6379/0")
    ///     .coalesce_reads(true)
    ///     .coalesced_reads_in_flight(2)?;
    /// assert!(format!("{config:?}").contains("coalesced_reads_in_flight: 2"));
    /// assert!(RedisConfig::new().coalesced_reads_in_flight(0).is_err());
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn coalesced_reads_in_flight(mut self, reads: usize) -> Result<Self> {
        self.socket.coalesced_reads_in_flight = reads_in_flight(reads)?;
        Ok(self)
    }

    /// Whether this configuration finds its server through Sentinel.
    pub fn is_sentinel(&self) -> bool {
        self.server.sentinel().is_some()
    }

    /// Trusts the CA certificate in this PEM file for `rediss://` (instead of the system's
    /// root certificates); redis-py's `ssl_ca_certs`.
    pub fn tls_root_certificate(mut self, pem_file: impl Into<std::path::PathBuf>) -> Self {
        self.server.tls_root_certificate = Some(pem_file.into());
        self
    }

    /// Locks carry no TTL in Redis (the seed's default; a crashed holder's lock then stays
    /// until deleted by hand). Not recommended.
    pub fn lock_without_timeout(mut self) -> Self {
        self.lock.timeout = None;
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
        self.lock.prefix = prefix;
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
        self.lock.prefix = compat.lock_prefix().to_owned();
        self
    }

    /// A feature that opens connections of its own (key tracking, invalidation messages)
    /// cannot work over a given connection alone.
    pub(crate) fn needs_own_connections(&self, feature: &str) -> Result<()> {
        match self.server.given {
            Some(Given::Connection(_)) => Err(Error::config(feature, NEEDS_A_CLIENT)),
            _ => Ok(()),
        }
    }

    /// The address with the password hidden (on a cluster, the startup nodes').
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile_redis::RedisConfig;
    ///
    /// let config = RedisConfig::from_url("redis://app:s3cret@cache.internal:6379/2");
    /// assert_eq!(config.redacted_url(), "redis://app:<redacted>@cache.internal:6379/2");
    /// ```
    pub fn redacted_url(&self) -> String {
        self.server.redacted_url()
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let RedisConfig { server, socket, ttl, lock } = self;
        f.debug_struct("RedisConfig")
            .field("server", server)
            .field("socket", socket)
            .field("ttl", ttl)
            .field("lock", lock)
            .finish()
    }
}

// The groups show the argument names a user configures them by.

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Socket { timeout, connect_timeout, keepalive, blocking, coalesce_reads, coalesced_reads_in_flight } = self;
        f.debug_struct("Socket")
            .field("socket_timeout", timeout)
            .field("socket_connect_timeout", connect_timeout)
            .field("socket_keepalive", keepalive)
            .field("blocking_io", blocking)
            .field("coalesce_reads", coalesce_reads)
            .field("coalesced_reads_in_flight", coalesced_reads_in_flight)
            .finish()
    }
}

impl fmt::Debug for RedisTtl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let RedisTtl { expiration, hash, jitter } = self;
        f.debug_struct("Ttl")
            .field("redis_expiration_time", expiration)
            .field("redis_expiration_time_hash", hash)
            .field("redis_expiration_time_jitter", jitter)
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
        assert_eq!(config.server.connection_url(), "redis://:pw@cache:6380/3");
        assert_eq!(config.ttl.expiration, Some(Duration::from_secs(60)));
        assert_eq!(config.ttl.hash, HashTtlPolicy::OnEveryWrite);
        assert_eq!(config.lock.sleep, Duration::from_millis(50));
        assert_eq!(config.lock.prefix, "_");
        assert!(matches!(config.lock.lost, LockLostPolicy::Error));
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
    fn coalesced_reads_in_flight_from_1_to_16() {
        let two = Arguments::new().with("coalesce_reads", true).with("coalesced_reads_in_flight", 2);
        let config = RedisConfig::from_arguments(&two).unwrap();
        assert!(config.socket.coalesce_reads);
        assert_eq!(config.socket.coalesced_reads_in_flight, 2);
        assert_eq!(RedisConfig::new().socket.coalesced_reads_in_flight, 1);
        for reads in [0, 17] {
            let err =
                RedisConfig::from_arguments(&Arguments::new().with("coalesced_reads_in_flight", reads)).unwrap_err();
            assert!(err.to_string().contains("`coalesced_reads_in_flight`"), "{err}");
            assert!(RedisConfig::new().coalesced_reads_in_flight(reads as usize).is_err());
        }
        assert!(RedisConfig::from_arguments(&Arguments::new().with("coalesced_reads_in_flight", -1)).is_err());
    }

    #[test]
    fn hash_policy_from_none_true_false() {
        let none = Arguments::new().with("redis_expiration_time_hash", dogpile::config::ConfigValue::None);
        assert_eq!(RedisConfig::from_arguments(&none).unwrap().ttl.hash, HashTtlPolicy::OnCreate);
        let off = Arguments::new().with("redis_expiration_time_hash", false);
        assert_eq!(RedisConfig::from_arguments(&off).unwrap().ttl.hash, HashTtlPolicy::Never);
    }

    #[test]
    fn compat_names_the_locks_and_lock_prefix_overrides_it() {
        let seed05 = RedisConfig::from_arguments(&Arguments::new().with("compat", "seed-0.5")).unwrap();
        assert_eq!(seed05.lock.prefix, "_lok.");
        let both = Arguments::new().with("compat", "seed-0.5").with("lock_prefix", "_mine");
        assert_eq!(RedisConfig::from_arguments(&both).unwrap().lock.prefix, "_mine");
        assert_eq!(RedisConfig::new().lock.prefix, "_lock");
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
        assert_eq!(config.server.cluster_urls(), ["redis://:pw@10.0.0.1:7000", "redis://:pw@10.0.0.2:7001"]);
        assert!(!format!("{config:?}").contains("pw@"), "{config:?}");
        let from_url = Arguments::new().with("url", "redis://:pw@h:7000/0");
        assert_eq!(
            RedisConfig::cluster_from_arguments(&from_url).unwrap().server.cluster_urls(),
            ["redis://:pw@h:7000/0"]
        );
        let joined = Arguments::new().with("startup_nodes", "a:1, b:2");
        assert_eq!(
            RedisConfig::cluster_from_arguments(&joined).unwrap().server.cluster_urls(),
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
        let sentinel = config.server.sentinel().cloned().unwrap();
        assert_eq!(sentinel.sentinels, [("10.0.0.1".to_owned(), 26379), ("10.0.0.2".to_owned(), 26380)]);
        assert_eq!(sentinel.service_name, "cache");
        assert_eq!(sentinel.password.as_deref(), Some("spw"));
        assert_eq!(config.server.db, 2);
        let shown = format!("{config:?}");
        assert!(!shown.contains("spw") && !shown.contains("pw@"), "{shown}");
        assert!(RedisConfig::sentinel_from_arguments(&Arguments::new()).is_err());
        let bad = Arguments::new().with("sentinels", "nohost");
        assert!(RedisConfig::sentinel_from_arguments(&bad).unwrap_err().to_string().contains("`sentinels`"));
        let default_service = Arguments::new().with("sentinels", "a:1");
        assert_eq!(
            RedisConfig::sentinel_from_arguments(&default_service)
                .unwrap()
                .server
                .sentinel()
                .cloned()
                .unwrap()
                .service_name,
            "mymaster"
        );
    }

    #[test]
    fn socket_timeouts_are_finite_by_default() {
        let config = RedisConfig::new();
        assert_eq!(
            (config.socket.timeout, config.socket.connect_timeout),
            (Some(DEFAULT_SOCKET_TIMEOUT), Some(DEFAULT_SOCKET_TIMEOUT))
        );
        let args = Arguments::new().with("url", "redis://h:1/0");
        let config = RedisConfig::from_arguments(&args).unwrap();
        assert_eq!(config.socket.timeout, Some(DEFAULT_SOCKET_TIMEOUT));
        let args = args.with("socket_timeout", 0.25).with("socket_connect_timeout", 2);
        let config = RedisConfig::from_arguments(&args).unwrap();
        assert_eq!(config.socket.timeout, Some(Duration::from_millis(250)));
        assert_eq!(config.socket.connect_timeout, Some(Duration::from_secs(2)));
    }

    #[test]
    fn tls_from_redis_py_names_flat_or_in_kwargs() {
        let args = Arguments::new()
            .with("sentinels", "s1:26380")
            .with("sentinel_kwargs", Arguments::new().with("ssl", true).with("ssl_ca_certs", "/s.pem"))
            .with("connection_kwargs", Arguments::new().with("ssl", true).with("ssl_ca_certs", "/ca.pem"));
        let config = RedisConfig::sentinel_from_arguments(&args).unwrap();
        let sentinel = config.server.sentinel().cloned().unwrap();
        assert!(config.server.tls && sentinel.tls);
        assert_eq!(config.server.tls_root_certificate.as_deref(), Some(std::path::Path::new("/ca.pem")));
        assert_eq!(sentinel.tls_root_certificate.as_deref(), Some(std::path::Path::new("/s.pem")));
        // Flat names win over the kwargs; without any, no TLS.
        let flat = args.clone().with("ssl", false).with("sentinel_ssl", false);
        let config = RedisConfig::sentinel_from_arguments(&flat).unwrap();
        assert!(!config.server.tls && !config.server.sentinel().cloned().unwrap().tls);
        let plain = RedisConfig::sentinel_from_arguments(&Arguments::new().with("sentinels", "s1:1")).unwrap();
        assert!(!plain.server.tls && !plain.server.sentinel().cloned().unwrap().tls);
        // One server: `ssl` makes the host/port or the redis:// URL a rediss:// one.
        let one = RedisConfig::from_arguments(&Arguments::new().with("host", "h").with("ssl", true)).unwrap();
        assert_eq!(one.server.connection_url(), "rediss://h:6379/0");
        let url =
            Arguments::new().with("url", "redis://h:1/2").with("connection_kwargs", Arguments::new().with("ssl", true));
        assert_eq!(RedisConfig::from_arguments(&url).unwrap().server.connection_url(), "rediss://h:1/2");
        let bad = Arguments::new().with("ssl", "yes please");
        assert!(RedisConfig::from_arguments(&bad).unwrap_err().to_string().contains("`ssl`"));
    }

    #[test]
    fn credentials_are_escaped_and_hidden() {
        let config = RedisConfig::new().username("u").password("p@ss:word");
        assert_eq!(config.server.connection_url(), "redis://u:p%40ss%3Aword@localhost:6379/0");
        assert_eq!(config.redacted_url(), "redis://u:<redacted>@localhost:6379/0");
    }
}
