//! The shared, self-reconnecting connection.

mod blocking;
mod client;

use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use dogpile::{BackendErrorKind, Error, Result};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ConnectionAddr, Pipeline, RedisFuture, Value};
use tokio::sync::Mutex;

use crate::config::RedisConfig;
use crate::error::kind_of;
use blocking::Blocking;
use client::{Client, open_client};

/// One multiplexed connection for the whole backend, made on first use. The manager
/// reconnects by itself after the server went away; when a reconnection cannot succeed on its
/// own (the password was refused), the connection is gone, or it stopped answering (a
/// timeout: a peer gone without a FIN or an RST answers nothing ever again),
/// [`Connection::failed`] drops the manager and the next call makes a new one. Concurrent callers share one attempt, and after a
/// failed attempt calls fail at once until a bounded backoff has passed.
pub(crate) struct Connection {
    client: Client,
    /// The connection, and when it was made.
    current: RwLock<Option<(Conn, Instant)>>,
    /// How long a reply may take (`socket_timeout`).
    reply_timeout: Option<Duration>,
    connecting: Mutex<Backoff>,
    settings: ConnectionManagerConfig,
    /// With `blocking_io`, the timeouts of the blocking connection: connecting, each reply.
    blocking: Option<(Option<Duration>, Option<Duration>)>,
    shown_url: String,
    /// On a cluster, the startup nodes, for the pub/sub connection and for finding the
    /// primaries to track keys on.
    cluster_nodes: Vec<redis::Client>,
}

/// A handle on the connection: one server's (which reconnects by itself), or a cluster's
/// (which follows the cluster's topology by itself). Cheap to clone.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    /// One server's, doing its I/O on the polling thread (`blocking_io`).
    Blocking(Blocking),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Blocking(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Blocking(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Blocking(c) => c.get_db(),
        }
    }
}

/// The state of reconnection attempts.
#[derive(Default)]
struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
    last: Option<(BackendErrorKind, String)>,
}

/// The pause after the first failed attempt; it doubles with each failure up to
/// [`LAST_RETRY`]. The cap bounds the recovery time once the server is back (at most about
/// that long after it answers), and keeps a fleet of processes to a few attempts a second
/// each. Each pause is shortened by a random part of up to a half, so that processes that
/// lost the server together do not come back in lockstep.
const FIRST_RETRY: Duration = Duration::from_millis(50);
const LAST_RETRY: Duration = Duration::from_millis(500);

impl Connection {
    pub(crate) fn new(config: &RedisConfig) -> Result<Self> {
        let shown_url = config.redacted_url();
        let client = Client::open(config)?;
        let mut settings = ConnectionManagerConfig::new()
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1))
            .set_response_timeout(config.socket.timeout);
        if let Some(timeout) = config.socket.connect_timeout {
            settings = settings.set_connection_timeout(Some(timeout));
        }
        let cluster_nodes = match &client {
            Client::Cluster(_) => {
                config.server.cluster_urls().iter().filter_map(|url| open_client(config, url).ok()).collect()
            }
            _ => Vec::new(),
        };
        Ok(Connection {
            cluster_nodes,
            client,
            current: RwLock::new(None),
            reply_timeout: config.socket.timeout,
            connecting: Mutex::new(Backoff::default()),
            settings,
            blocking: config.socket.blocking.then_some((config.socket.connect_timeout, config.socket.timeout)),
            shown_url,
        })
    }

    fn current(&self) -> Option<Conn> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(conn, _)| conn.clone())
    }

    /// A handle on the connection (cheap to clone), connecting first if needed.
    pub(crate) async fn get(&self) -> Result<Conn> {
        match self.current() {
            Some(manager) => Ok(manager),
            // Boxed: the connecting future is large, and every command's future would
            // otherwise carry it (a bigger allocation and copy per call on the hit path).
            None => Box::pin(self.connect()).await,
        }
    }

    /// Connects, or waits for the attempt another caller is making.
    async fn connect(&self) -> Result<Conn> {
        let mut backoff = self.connecting.lock().await;
        // Another caller may have connected while this one waited.
        if let Some(manager) = self.current() {
            return Ok(manager);
        }
        if let (Some(at), Some((kind, message))) = (backoff.retry_at, &backoff.last)
            && Instant::now() < at
        {
            return Err(Error::backend(*kind, format!("{message} (next attempt in {:?})", at - Instant::now())));
        }
        let connected = match &self.client {
            Client::Single(client) => self.open(client).await,
            Client::Cluster(client) => client.get_async_connection().await.map(Conn::Cluster),
            Client::Given(connection) => Ok(Conn::Single(connection.clone())),
            Client::Sentinel(sentinel) => {
                let primary = sentinel.lock().await.async_get_client().await;
                match primary {
                    Ok(client) => self.open(&client).await,
                    Err(err) => Err(err),
                }
            }
        };
        match connected {
            Ok(manager) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some((manager.clone(), Instant::now()));
                *backoff = Backoff::default();
                Ok(manager)
            }
            Err(err) => {
                let kind = match kind_of(&err) {
                    BackendErrorKind::Other => BackendErrorKind::Connection,
                    kind => kind,
                };
                let message = format!("cannot connect to {}: {err}", self.shown_url);
                backoff.failures = backoff.failures.saturating_add(1);
                let delay = jittered(FIRST_RETRY.saturating_mul(1 << backoff.failures.min(6)).min(LAST_RETRY));
                backoff.retry_at = Some(Instant::now() + delay);
                backoff.last = Some((kind, message.clone()));
                Err(Error::backend(kind, message))
            }
        }
    }

    /// A connection to one server: blocking with `blocking_io`, else the self-reconnecting
    /// multiplexed one.
    async fn open(&self, client: &redis::Client) -> redis::RedisResult<Conn> {
        match self.blocking {
            Some((connect, reply)) => Blocking::connect(client, connect, reply).map(Conn::Blocking),
            None => client.get_connection_manager_with_config(self.settings.clone()).await.map(Conn::Single),
        }
    }

    /// A pub/sub connection of its own: to the server; to the primary under Sentinel; to the
    /// first startup node on a cluster (a message published on one node reaches them all).
    pub(crate) async fn pubsub(&self) -> redis::RedisResult<redis::aio::PubSub> {
        match &self.client {
            Client::Single(client) => client.get_async_pubsub().await,
            Client::Sentinel(sentinel) => {
                let client = sentinel.lock().await.async_get_client().await?;
                client.get_async_pubsub().await
            }
            Client::Cluster(_) => match self.cluster_nodes.first() {
                Some(client) => client.get_async_pubsub().await,
                None => Err(redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "no cluster node to subscribe on",
                ))),
            },
            Client::Given(_) => Err(needs_a_client()),
        }
    }

    /// Clients for key tracking connections of their own, in RESP3, one per primary: the
    /// server; the primary the sentinels name now; every primary of a cluster, as
    /// [`Connection::cluster_primaries`] finds them.
    pub(crate) async fn tracking_clients(&self) -> redis::RedisResult<Vec<redis::Client>> {
        let clients = match &self.client {
            Client::Single(client) => vec![client.clone()],
            Client::Sentinel(sentinel) => vec![sentinel.lock().await.async_get_client().await?],
            Client::Given(_) => return Err(needs_a_client()),
            Client::Cluster(_) => {
                let (node, primaries) = self.cluster_primaries().await?;
                let info = node.get_connection_info();
                primaries
                    .into_iter()
                    .map(|(host, port)| redis::Client::open(info.clone().set_addr(ConnectionAddr::Tcp(host, port))))
                    .collect::<redis::RedisResult<_>>()?
            }
        };
        clients
            .into_iter()
            .map(|client| {
                let info = client.get_connection_info().clone();
                let settings = info.redis_settings().clone().set_protocol(redis::ProtocolVersion::RESP3);
                redis::Client::open(info.set_redis_settings(settings))
            })
            .collect()
    }

    /// A cluster's primaries (`host`, `port`), sorted, as `CLUSTER SLOTS` names them on the
    /// first startup node that answers, with that node's client.
    pub(crate) async fn cluster_primaries(&self) -> redis::RedisResult<(&redis::Client, Vec<(String, u16)>)> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let mut last =
            redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "no usable cluster startup node"));
        for node in &self.cluster_nodes {
            let reply = match node.get_multiplexed_async_connection_with_config(&config).await {
                Ok(mut conn) => redis::cmd("CLUSTER").arg("SLOTS").query_async::<Value>(&mut conn).await,
                Err(err) => Err(err),
            };
            match reply {
                Ok(reply) => match crate::topology::cluster::primaries(&reply) {
                    primaries if primaries.is_empty() => {
                        last = redis::RedisError::from((
                            redis::ErrorKind::Server(redis::ServerErrorKind::ClusterDown),
                            "no slot is served",
                        ));
                    }
                    primaries => return Ok((node, primaries)),
                },
                Err(err) => last = err,
            }
        }
        Err(last)
    }

    /// Notes a failed command: a refused password, a lost connection or a silent one drops
    /// the manager, so that the next call connects anew instead of reusing a manager that
    /// cannot recover.
    pub(crate) fn failed(&self, err: &redis::RedisError) {
        let kind = kind_of(err);
        // Under Sentinel, a server that refuses writes as a replica was a primary until a
        // failover: the sentinels name the new one.
        let demoted = matches!(self.client, Client::Sentinel(_))
            && err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly);
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if demoted
            || kind == BackendErrorKind::Authentication
            || (kind == BackendErrorKind::Connection && !err.is_timeout())
            || (err.is_timeout() && current.as_ref().is_some_and(|(_, since)| self.silent(since.elapsed())))
        {
            *current = None;
        }
    }

    /// Whether a timeout on the connection made `age` ago means it is dead: a manager that
    /// reconnects by itself does not after a timeout, and a peer that vanished without a FIN or
    /// an RST (a host gone, a dropped route) never answers again. A timeout only tells of the
    /// connection its command was sent on: one younger than the timeout is a newer connection,
    /// kept. A cluster's connection keeps its own per-node connections, and a connection of
    /// the caller's is theirs: neither is dropped.
    fn silent(&self, age: Duration) -> bool {
        let own = matches!(self.client, Client::Single(_) | Client::Sentinel(_));
        own && self.reply_timeout.is_some_and(|timeout| age >= timeout)
    }
}

/// What a given connection cannot do (the features that need it refuse such a backend when
/// they start: [`RedisConfig::needs_own_connections`]).
fn needs_a_client() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, crate::config::NEEDS_A_CLIENT))
}

/// `delay` less a random part of up to a half.
fn jittered(delay: Duration) -> Duration {
    delay.mul_f64(1.0 - random_unit() / 2.0)
}

/// A random number in `[0, 1)`: std's per-process random hash keys over a counter (no
/// quality needed beyond spreading retries and TTLs).
pub(crate) fn random_unit() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    let n = DRAWS.fetch_add(1, Ordering::Relaxed);
    (RandomState::new().hash_one(n) >> 11) as f64 / (1u64 << 53) as f64
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.shown_url)
            .field("connected", &self.current().is_some())
            .finish()
    }
}
