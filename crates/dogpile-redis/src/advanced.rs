//! `dogpile_backend_redis_advanced`: plain keys as Redis strings.

use std::fmt;
use std::sync::Arc;

use dogpile::Result;
use dogpile::backend::{L1Backend, L1Builder};
use dogpile::config::Arguments;

use crate::config::RedisConfig;
use crate::facade::{Keys, Redis, forward_backend};

/// The registry name of [`RedisAdvancedBackend`].
pub const ADVANCED: &str = "dogpile_backend_redis_advanced";

/// Values in Redis strings: GET, MGET, SET [EX|PX], MSET or one pipeline of SETs, DEL; with
/// `distributed_lock`, a lock in Redis shared by every process. Hash keys are refused with
/// [`Error::UnsupportedKey`](dogpile::Error::UnsupportedKey): use [`RedisAdvancedHstoreBackend`](crate::RedisAdvancedHstoreBackend)
/// for them.
///
/// Cheap to clone; clones share one multiplexed connection, made on first use.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use dogpile::Region;
/// use dogpile_redis::{RedisAdvancedBackend, RedisConfig};
///
/// # async fn run() -> dogpile::Result<()> {
/// let backend = RedisAdvancedBackend::new(
///     RedisConfig::from_url("redis://127.0.0.1:6379/0")
///         .redis_expiration_time(Duration::from_secs(3600))
///         .distributed_lock(true),
/// )?;
/// let region = Region::builder().backend(backend).expiration_time(Duration::from_secs(600)).build()?;
/// let n: u64 = region.get_or_create("answer", || async { Ok::<_, std::io::Error>(42) }).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisAdvancedBackend {
    redis: Redis,
}

impl RedisAdvancedBackend {
    /// A backend for `config`. Connects on first use.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](dogpile::Error::Config) for a URL that does not parse (shown without its password).
    pub fn new(config: RedisConfig) -> Result<Self> {
        Ok(RedisAdvancedBackend { redis: Redis::new(config, ADVANCED, Keys::Plain)? })
    }

    /// A backend for `config`, connected before it is returned: where
    /// [`new`](RedisAdvancedBackend::new) leaves the server to the first call, this fails at
    /// once when the server cannot be reached or refuses the credentials.
    ///
    /// # Errors
    ///
    /// As [`new`](RedisAdvancedBackend::new); the backend's error (kind
    /// [`Connection`](dogpile::BackendErrorKind::Connection) or
    /// [`Authentication`](dogpile::BackendErrorKind::Authentication)) when the server cannot
    /// be used.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use dogpile_redis::{RedisAdvancedBackend, RedisConfig};
    ///
    /// # async fn run() -> dogpile::Result<()> {
    /// let backend = RedisAdvancedBackend::connect(RedisConfig::from_url("redis://127.0.0.1:6379/0")).await?;
    /// # let _ = backend;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(config: RedisConfig) -> Result<Self> {
        Ok(RedisAdvancedBackend { redis: Redis::connect(config, ADVANCED, Keys::Plain).await? })
    }

    /// A backend from configuration arguments (see the crate documentation's table).
    ///
    /// # Errors
    ///
    /// [`Error::Config`](dogpile::Error::Config) naming the argument with a wrong value.
    pub fn from_arguments(args: &Arguments) -> Result<Self> {
        RedisAdvancedBackend::new(RedisConfig::from_arguments(args)?)
    }

    /// This backend with an L1 in front: values read or written here are kept in process
    /// memory too, and a hit costs no round trip. Redis key tracking keeps the L1 coherent: a
    /// write, delete or expiry of a key by any client (another process, a Python service,
    /// `redis-cli`) drops it from the L1, and while the tracking connection is down the L1 is
    /// flushed and every call goes to Redis. The L1 serves once the server accepted the
    /// tracking: await [`L1Backend::ready`] at start to wait for it, and to refuse to run on a
    /// server that cannot track (before Redis 6). On a cluster every primary is tracked, and a
    /// failover or a new primary flushes the L1 until the new set is tracked.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](dogpile::Error::Config) outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use dogpile::backend::L1Backend;
    /// use dogpile_redis::{RedisAdvancedBackend, RedisConfig};
    ///
    /// # async fn run() -> dogpile::Result<()> {
    /// let redis = RedisAdvancedBackend::new(RedisConfig::from_url("redis://127.0.0.1:6379/0"))?;
    /// let backend = redis.with_l1(L1Backend::builder().capacity(10_000).prefixes(["user:"]))?;
    /// backend.ready().await?;
    /// let region = dogpile::Region::builder().backend(backend).build()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_l1(self, l1: L1Builder) -> Result<L1Backend<Self>> {
        let store = Arc::clone(&self.redis.store);
        crate::tracking::l1(&store, self, l1)
    }

    /// A region invalidation shared with every process that uses this Redis: see
    /// [`SharedInvalidation`](crate::SharedInvalidation). Reads the region's last
    /// invalidation first.
    ///
    /// # Errors
    ///
    /// A backend error when Redis cannot be read; [`Error::Config`](dogpile::Error::Config)
    /// for a region name with spaces, or outside a Tokio runtime.
    pub async fn shared_invalidation(&self, region: &str) -> Result<crate::SharedInvalidation> {
        crate::invalidation::start(&self.redis.store, region).await
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        self.redis.config()
    }
}

forward_backend!(RedisAdvancedBackend);

impl fmt::Debug for RedisAdvancedBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAdvancedBackend").field("redis", &self.redis).finish()
    }
}
