//! `dogpile_backend_redis_advanced`: plain keys as Redis strings.

use std::fmt;
use std::sync::Arc;

use dogpile::backend::{Backend, BackendMutex, Capabilities, L1Backend, L1Builder, Locked};
use dogpile::config::Arguments;
use dogpile::{Bytes, CacheKey, Error, Result};

use crate::config::RedisConfig;
use crate::lock::Locks;
use crate::store::Store;

/// The registry name of [`RedisAdvancedBackend`].
pub const ADVANCED: &str = "dogpile_backend_redis_advanced";

/// Values in Redis strings: GET, MGET, SET [EX|PX], MSET or one pipeline of SETs, DEL; with
/// `distributed_lock`, a lock in Redis shared by every process. Hash keys are refused with
/// [`Error::UnsupportedKey`]: use [`RedisAdvancedHstoreBackend`](crate::RedisAdvancedHstoreBackend)
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
    store: Arc<Store>,
    locks: Arc<Locks>,
}

impl RedisAdvancedBackend {
    /// A backend for `config`. Connects on first use.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a URL that does not parse (shown without its password).
    pub fn new(config: RedisConfig) -> Result<Self> {
        let store = Store::new(config, ADVANCED)?;
        Ok(RedisAdvancedBackend { locks: Locks::new(Arc::clone(&store)), store })
    }

    /// A backend from configuration arguments (see the crate documentation's table).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the argument with a wrong value.
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
    /// [`Error::Config`] outside a Tokio runtime.
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
        let store = Arc::clone(&self.store);
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
        crate::invalidation::start(&self.store, region).await
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.store.config
    }

    fn refuse_hash(&self, keys: &[&CacheKey]) -> Result<()> {
        match keys.iter().find(|k| k.is_hash()) {
            Some(key) => Err(Error::UnsupportedKey { key: (*key).clone(), backend: ADVANCED }),
            None => Ok(()),
        }
    }
}

impl Backend for RedisAdvancedBackend {
    fn name(&self) -> &'static str {
        ADVANCED
    }
    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        self.refuse_hash(&[key])?;
        self.store.get(key).await
    }
    async fn get_multi(&self, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>> {
        self.refuse_hash(&keys.iter().collect::<Vec<_>>())?;
        self.store.get_multi(keys).await
    }
    async fn set(&self, key: &CacheKey, value: Bytes) -> Result<()> {
        self.refuse_hash(&[key])?;
        self.store.set(key, value).await
    }
    async fn set_multi(&self, items: &[(CacheKey, Bytes)]) -> Result<()> {
        self.refuse_hash(&items.iter().map(|(k, _)| k).collect::<Vec<_>>())?;
        self.store.set_multi(items).await
    }
    async fn delete(&self, key: &CacheKey) -> Result<()> {
        self.refuse_hash(&[key])?;
        self.store.delete(key).await
    }
    async fn delete_multi(&self, keys: &[CacheKey]) -> Result<()> {
        self.refuse_hash(&keys.iter().collect::<Vec<_>>())?;
        self.store.delete_multi(keys).await
    }
    fn get_mutex(&self, key: &CacheKey) -> Option<Arc<dyn BackendMutex>> {
        self.locks.mutex(key)
    }
    async fn try_lock_multi(&self, keys: &[CacheKey]) -> Result<Vec<Option<Locked>>> {
        self.refuse_hash(&keys.iter().collect::<Vec<_>>())?;
        self.locks.try_lock_multi(keys).await
    }
    async fn set_multi_and_release(
        &self,
        items: &[(CacheKey, Bytes)],
        mutexes: Vec<Arc<dyn BackendMutex>>,
    ) -> (Result<()>, Vec<Result<()>>) {
        if let Err(err) = self.refuse_hash(&items.iter().map(|(k, _)| k).collect::<Vec<_>>()) {
            let released = self.locks.set_multi_and_release(&[], mutexes).await.1;
            return (Err(err), released);
        }
        self.locks.set_multi_and_release(items, mutexes).await
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new().with_hash_keys(false).with_distributed_lock(self.store.config.distributed_lock)
    }
}

impl fmt::Debug for RedisAdvancedBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAdvancedBackend").field("store", &self.store).finish()
    }
}
