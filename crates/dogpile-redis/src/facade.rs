//! What the two backends share, and the one layer through which both forward the backend
//! contract: the store and the lock over one connection, and which keys they take.

use std::fmt;
use std::sync::Arc;

use dogpile::backend::{BackendMutex, Capabilities, Locked, SharedTagStore};
use dogpile::{Bytes, CacheKey, Error, Result};

use crate::config::RedisConfig;
use crate::lock::Locks;
use crate::store::Store;
use crate::tags::RedisTags;

/// Which keys a backend takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keys {
    /// Plain keys only: a hash key is [`Error::UnsupportedKey`].
    Plain,
    /// Plain keys as strings and hash keys as fields of hashes.
    PlainAndHash,
}

/// A backend's store and lock (cheap to clone: both are shared).
#[derive(Clone)]
pub(crate) struct Redis {
    pub(crate) store: Arc<Store>,
    locks: Arc<Locks>,
    keys: Keys,
    tags: Arc<RedisTags>,
}

impl Redis {
    /// The backend named `backend`, taking `keys`.
    pub(crate) fn new(config: RedisConfig, backend: &'static str, keys: Keys) -> Result<Self> {
        let store = Store::new(config, backend)?;
        Ok(Redis { locks: Locks::new(Arc::clone(&store)), tags: RedisTags::new(&store), store, keys })
    }

    /// [`Redis::new`], connected now: a server that cannot be reached or refuses the
    /// credentials, and a `per_field` hash TTL policy it cannot do, fail here.
    pub(crate) async fn connect(config: RedisConfig, backend: &'static str, keys: Keys) -> Result<Self> {
        let redis = Redis::new(config, backend, keys)?;
        redis.store.connection.get().await?;
        redis.store.check().await?;
        Ok(redis)
    }

    pub(crate) fn config(&self) -> &RedisConfig {
        &self.store.config
    }

    /// Refuses a hash key where the backend takes plain keys only.
    fn admit<'k>(&self, mut keys: impl Iterator<Item = &'k CacheKey>) -> Result<()> {
        if self.keys == Keys::PlainAndHash {
            return Ok(());
        }
        match keys.find(|k| k.is_hash()) {
            Some(key) => Err(Error::UnsupportedKey { key: key.clone(), backend: self.store.backend }),
            None => Ok(()),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.store.backend
    }
    pub(crate) async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        self.admit(std::iter::once(key))?;
        self.store.get(key).await
    }
    pub(crate) async fn get_multi(&self, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>> {
        self.admit(keys.iter())?;
        self.store.get_multi(keys).await
    }
    pub(crate) async fn set(&self, key: &CacheKey, value: Bytes) -> Result<()> {
        self.admit(std::iter::once(key))?;
        self.store.set(key, value).await
    }
    pub(crate) async fn set_multi(&self, items: &[(CacheKey, Bytes)]) -> Result<()> {
        self.admit(items.iter().map(|(k, _)| k))?;
        self.store.set_multi(items).await
    }
    pub(crate) async fn delete(&self, key: &CacheKey) -> Result<()> {
        self.admit(std::iter::once(key))?;
        self.store.delete(key).await
    }
    pub(crate) async fn delete_multi(&self, keys: &[CacheKey]) -> Result<()> {
        self.admit(keys.iter())?;
        self.store.delete_multi(keys).await
    }
    pub(crate) fn get_mutex(&self, key: &CacheKey) -> Option<Arc<dyn BackendMutex>> {
        self.locks.mutex(key)
    }
    pub(crate) async fn try_lock_multi(&self, keys: &[CacheKey]) -> Result<Vec<Option<Locked>>> {
        self.admit(keys.iter())?;
        self.locks.try_lock_multi(keys).await
    }
    pub(crate) async fn set_multi_and_release(
        &self,
        items: &[(CacheKey, Bytes)],
        mutexes: Vec<Arc<dyn BackendMutex>>,
    ) -> (Result<()>, Vec<Result<()>>) {
        if let Err(err) = self.admit(items.iter().map(|(k, _)| k)) {
            let released = self.locks.set_multi_and_release(&[], mutexes).await.1;
            return (Err(err), released);
        }
        self.locks.set_multi_and_release(items, mutexes).await
    }
    /// The fleet's tag store; none over a connection given by the caller, which cannot
    /// subscribe for news (tags then hold in this process only).
    pub(crate) fn tag_store(&self) -> Option<SharedTagStore> {
        match self.store.config.needs_own_connections("tags") {
            Ok(()) => Some(Arc::clone(&self.tags) as SharedTagStore),
            Err(_) => None,
        }
    }

    pub(crate) fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_hash_keys(self.keys == Keys::PlainAndHash)
            .with_distributed_lock(self.store.config.lock.distributed)
    }
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis").field("store", &self.store).field("keys", &self.keys).finish()
    }
}

/// `impl Backend for $backend` forwarding every call to its `redis` field.
macro_rules! forward_backend {
    ($backend:ty) => {
        impl dogpile::backend::Backend for $backend {
            fn name(&self) -> &'static str {
                self.redis.name()
            }
            async fn get(&self, key: &dogpile::CacheKey) -> dogpile::Result<Option<dogpile::Bytes>> {
                self.redis.get(key).await
            }
            async fn get_multi(&self, keys: &[dogpile::CacheKey]) -> dogpile::Result<Vec<Option<dogpile::Bytes>>> {
                self.redis.get_multi(keys).await
            }
            async fn set(&self, key: &dogpile::CacheKey, value: dogpile::Bytes) -> dogpile::Result<()> {
                self.redis.set(key, value).await
            }
            async fn set_multi(&self, items: &[(dogpile::CacheKey, dogpile::Bytes)]) -> dogpile::Result<()> {
                self.redis.set_multi(items).await
            }
            async fn delete(&self, key: &dogpile::CacheKey) -> dogpile::Result<()> {
                self.redis.delete(key).await
            }
            async fn delete_multi(&self, keys: &[dogpile::CacheKey]) -> dogpile::Result<()> {
                self.redis.delete_multi(keys).await
            }
            fn get_mutex(&self, key: &dogpile::CacheKey) -> Option<std::sync::Arc<dyn dogpile::backend::BackendMutex>> {
                self.redis.get_mutex(key)
            }
            async fn try_lock_multi(
                &self,
                keys: &[dogpile::CacheKey],
            ) -> dogpile::Result<Vec<Option<dogpile::backend::Locked>>> {
                self.redis.try_lock_multi(keys).await
            }
            async fn set_multi_and_release(
                &self,
                items: &[(dogpile::CacheKey, dogpile::Bytes)],
                mutexes: Vec<std::sync::Arc<dyn dogpile::backend::BackendMutex>>,
            ) -> (dogpile::Result<()>, Vec<dogpile::Result<()>>) {
                self.redis.set_multi_and_release(items, mutexes).await
            }
            fn capabilities(&self) -> dogpile::backend::Capabilities {
                self.redis.capabilities()
            }
            fn tag_store(&self) -> Option<dogpile::backend::SharedTagStore> {
                self.redis.tag_store()
            }
        }
    };
}
pub(crate) use forward_backend;
