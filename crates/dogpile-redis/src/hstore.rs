//! `dogpile_backend_redis_advanced_hstore`: hash keys as fields of Redis hashes.

use std::fmt;
use std::sync::Arc;

use dogpile::Result;
use dogpile::backend::{L1Backend, L1Builder};
use dogpile::config::Arguments;

use crate::config::RedisConfig;
use crate::facade::{Keys, Redis, forward_backend};

/// The registry name of [`RedisAdvancedHstoreBackend`].
pub const HSTORE: &str = "dogpile_backend_redis_advanced_hstore";

/// [`RedisAdvancedBackend`](crate::RedisAdvancedBackend) plus hash keys: `(name, field)` is
/// field `field` of the Redis hash `name` (HGET, HSET, HMGET, HDEL).
///
/// - `get_multi` of plain and hash keys is one round trip (one per primary involved on a
///   cluster): MGET and one HMGET per hash in one pipeline; results come in the caller's order,
///   duplicates included. `set_multi` and `delete_multi` are one round trip too.
/// - A hash write and its TTL are one script, all or nothing, per
///   [`HashTtlPolicy`](crate::HashTtlPolicy).
/// - The lock of `(name, field)` is named `{lock_prefix}name,field`, as in the Python plugin.
/// - A hash name that holds a string (or a plain key that holds a hash, read with GET) is an
///   error with kind [`WrongType`](dogpile::BackendErrorKind::WrongType) naming the key; the
///   other keys of a batch are written all the same.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use dogpile::{CacheKey, Region};
/// use dogpile_redis::{HashTtlPolicy, RedisAdvancedHstoreBackend, RedisConfig};
///
/// # async fn run() -> dogpile::Result<()> {
/// let backend = RedisAdvancedHstoreBackend::new(
///     RedisConfig::from_url("redis://127.0.0.1:6379/0")
///         .redis_expiration_time(Duration::from_secs(3600))
///         .redis_expiration_time_hash(HashTtlPolicy::OnCreate),
/// )?;
/// let region = Region::builder().backend(backend).build()?;
/// region.set(("users", "42"), &"Ada").await?;
/// let names: Vec<Option<String>> = region.get_multi([CacheKey::hash("users", "42"), CacheKey::from("plain")]).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisAdvancedHstoreBackend {
    redis: Redis,
}

impl RedisAdvancedHstoreBackend {
    /// A backend for `config`. Connects on first use.
    ///
    /// # Errors
    ///
    /// [`dogpile::Error::Config`] for a URL that does not parse (shown without its password).
    pub fn new(config: RedisConfig) -> Result<Self> {
        Ok(RedisAdvancedHstoreBackend { redis: Redis::new(config, HSTORE, Keys::PlainAndHash)? })
    }

    /// A backend for `config`, connected before it is returned: where [`new`] leaves the
    /// server to the first call, this fails at once when the server cannot be reached or
    /// refuses the credentials, and when `redis_expiration_time_hash = "per_field"` asks for
    /// field TTLs the server cannot give (it has neither `HSETEX` nor `HPEXPIRE`).
    ///
    /// [`new`]: RedisAdvancedHstoreBackend::new
    ///
    /// # Errors
    ///
    /// As [`new`]; the backend's error when the server cannot be reached;
    /// [`dogpile::Error::Config`] for a `per_field` policy the server cannot do.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use dogpile_redis::{HashTtlPolicy, RedisAdvancedHstoreBackend, RedisConfig};
    ///
    /// # async fn run() -> dogpile::Result<()> {
    /// let backend = RedisAdvancedHstoreBackend::connect(
    ///     RedisConfig::from_url("redis://127.0.0.1:6379/0")
    ///         .redis_expiration_time(Duration::from_secs(600))
    ///         .redis_expiration_time_hash(HashTtlPolicy::PerField),
    /// )
    /// .await?; // an error on a server before Redis 7.4 or Valkey 9
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(config: RedisConfig) -> Result<Self> {
        Ok(RedisAdvancedHstoreBackend { redis: Redis::connect(config, HSTORE, Keys::PlainAndHash).await? })
    }

    /// A backend from configuration arguments (see the crate documentation's table).
    ///
    /// # Errors
    ///
    /// [`dogpile::Error::Config`] naming the argument with a wrong value.
    pub fn from_arguments(args: &Arguments) -> Result<Self> {
        RedisAdvancedHstoreBackend::new(RedisConfig::from_arguments(args)?)
    }

    /// This backend with an L1 in front, kept coherent by Redis key tracking, as
    /// [`RedisAdvancedBackend::with_l1`](crate::RedisAdvancedBackend::with_l1) describes. The
    /// L1 keeps one entry per field of a hash key; a write to the hash by any client, its
    /// deletion or its expiry drops every field of it.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](dogpile::Error::Config) outside a Tokio runtime.
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

    /// Checks that the server can do what the configuration asks. With
    /// `redis_expiration_time_hash = "per_field"` (and a `redis_expiration_time`), asks the
    /// server, once, how it gives a hash field a TTL of its own; otherwise does nothing. Call
    /// it at start to fail there rather than at the first hash write
    /// ([`connect`](RedisAdvancedHstoreBackend::connect) calls it).
    ///
    /// # Errors
    ///
    /// [`Error::Config`](dogpile::Error::Config) when the server has neither `HSETEX` nor
    /// `HPEXPIRE`; the backend's error when it cannot be reached.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use dogpile_redis::{HashTtlPolicy, RedisAdvancedHstoreBackend, RedisConfig};
    ///
    /// # async fn run() -> dogpile::Result<()> {
    /// let backend = RedisAdvancedHstoreBackend::new(
    ///     RedisConfig::from_url("redis://127.0.0.1:6379/0")
    ///         .redis_expiration_time(Duration::from_secs(600))
    ///         .redis_expiration_time_hash(HashTtlPolicy::PerField),
    /// )?;
    /// backend.check().await?; // Valkey 9 or Redis 7.4 and later
    /// # Ok(())
    /// # }
    /// ```
    pub async fn check(&self) -> Result<()> {
        self.redis.store.check().await.map(drop)
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        self.redis.config()
    }
}

forward_backend!(RedisAdvancedHstoreBackend);

impl fmt::Debug for RedisAdvancedHstoreBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAdvancedHstoreBackend").field("redis", &self.redis).finish()
    }
}
