//! The backend contract: bytes in, bytes out (dogpile's `CacheBackend`).
//!
//! A backend knows nothing of regions, expiry or codecs: it stores the bytes it is given under
//! [`CacheKey`]s. Implement [`Backend`]; the region holds it as a [`DynBackend`] so that a
//! backend can be chosen at run time by name (see [`registry`](crate::registry)).

mod dynamic;
mod l1;
mod memory;
mod null;
mod proxy;
mod tags;
#[cfg(feature = "tracing")]
pub(crate) mod traced;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

pub use dynamic::DynBackend;
pub use l1::{L1Backend, L1Builder, L1Invalidator, L1Stats, L1Status};
pub use memory::{MemoryBackend, MemoryBackendBuilder};
pub use null::{NullBackend, NullMutex};
pub use proxy::{Proxied, ProxyBackend};
pub use tags::{SharedTagStore, TagNews, TagStamp, TagStore};

use crate::error::Result;
use crate::key::{CacheKey, KeyMangler, KeyRef};

/// A boxed, `Send` future (used by the object-safe traits).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a backend can do. The region and the conformance suite read these flags instead of
/// guessing from the backend's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Stores hash keys `(name, field)`. Without it, hash keys give
    /// [`Error::UnsupportedKey`](crate::Error::UnsupportedKey).
    pub hash_keys: bool,
    /// Keeps what it is given (false for the null backend).
    pub stores_values: bool,
    /// Offers a mutex shared with other processes through [`Backend::get_mutex`].
    pub distributed_lock: bool,
}

impl Capabilities {
    /// A backend that stores values and hash keys, with no distributed lock.
    pub const fn new() -> Self {
        Capabilities { hash_keys: true, stores_values: true, distributed_lock: false }
    }

    /// Sets [`Capabilities::hash_keys`].
    #[must_use]
    pub const fn with_hash_keys(mut self, yes: bool) -> Self {
        self.hash_keys = yes;
        self
    }

    /// Sets [`Capabilities::stores_values`].
    #[must_use]
    pub const fn with_stores_values(mut self, yes: bool) -> Self {
        self.stores_values = yes;
        self
    }

    /// Sets [`Capabilities::distributed_lock`].
    #[must_use]
    pub const fn with_distributed_lock(mut self, yes: bool) -> Self {
        self.distributed_lock = yes;
        self
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::new()
    }
}

/// A cache store: async, bytes in and bytes out.
///
/// Multi-key methods take and return values in the caller's order, duplicates included; their
/// default implementations loop over the single-key methods, and a networked backend overrides
/// them with one round trip.
///
/// # Examples
///
/// A backend over a `HashMap` (a shortened [`MemoryBackend`]):
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use dogpile::backend::Backend;
/// use dogpile::{Bytes, CacheKey, Region, Result};
///
/// #[derive(Debug, Default)]
/// struct MapBackend(Mutex<HashMap<CacheKey, Bytes>>);
///
/// impl Backend for MapBackend {
///     fn name(&self) -> &'static str {
///         "map"
///     }
///     async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
///         Ok(self.0.lock().unwrap().get(key).cloned())
///     }
///     async fn set(&self, key: &CacheKey, value: Bytes) -> Result<()> {
///         self.0.lock().unwrap().insert(key.clone(), value);
///         Ok(())
///     }
///     async fn delete(&self, key: &CacheKey) -> Result<()> {
///         self.0.lock().unwrap().remove(key);
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<()> {
/// let region = Region::builder().backend(MapBackend::default()).build()?;
/// let n: u32 = region.get_or_create("answer", || async { Ok::<_, std::io::Error>(42) }).await?;
/// assert_eq!(n, 42);
/// # Ok(())
/// # }
/// ```
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// A short name, for errors and `Debug` output.
    fn name(&self) -> &'static str;

    /// The bytes at `key`, or `None`.
    fn get(&self, key: &CacheKey) -> impl Future<Output = Result<Option<Bytes>>> + Send;

    /// The bytes at `key` if the backend can answer without waiting (an in-process store);
    /// `None` means "ask [`Backend::get`]". The region tries this first on every read, so a
    /// memory backend's hit costs no future and no allocation.
    fn get_ready(&self, key: KeyRef<'_>) -> Option<Result<Option<Bytes>>> {
        let _ = key;
        None
    }

    /// The bytes at each key, in the order of `keys`.
    fn get_multi(&self, keys: &[CacheKey]) -> impl Future<Output = Result<Vec<Option<Bytes>>>> + Send {
        async move {
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                out.push(self.get(key).await?);
            }
            Ok(out)
        }
    }

    /// Stores `value` at `key`.
    fn set(&self, key: &CacheKey, value: Bytes) -> impl Future<Output = Result<()>> + Send;

    /// Stores every pair; a later pair for the same key wins.
    fn set_multi(&self, items: &[(CacheKey, Bytes)]) -> impl Future<Output = Result<()>> + Send {
        async move {
            for (key, value) in items {
                self.set(key, value.clone()).await?;
            }
            Ok(())
        }
    }

    /// Removes `key`; removing a missing key is not an error.
    fn delete(&self, key: &CacheKey) -> impl Future<Output = Result<()>> + Send;

    /// Removes every key.
    fn delete_multi(&self, keys: &[CacheKey]) -> impl Future<Output = Result<()>> + Send {
        async move {
            for key in keys {
                self.delete(key).await?;
            }
            Ok(())
        }
    }

    /// A mutex shared with other processes for `key`, if the backend offers one. Without it
    /// (the default), the region's in-process per-key mutex is the only lock.
    fn get_mutex(&self, key: &CacheKey) -> Option<Arc<dyn BackendMutex>> {
        let _ = key;
        None
    }

    /// Tries the mutex of each of `keys` once, without waiting, and reads the value of each key
    /// whose mutex it took, after taking it; `None` where another holder has the mutex. The
    /// region's `get_or_create_multi` calls this for the keys it must create. A backend that can
    /// does it in one round trip; the default takes each [`Backend::get_mutex`] in turn, then
    /// reads the taken keys with one [`Backend::get_multi`].
    ///
    /// # Errors
    ///
    /// The backend's error; the mutexes taken before it are released.
    fn try_lock_multi(&self, keys: &[CacheKey]) -> impl Future<Output = Result<Vec<Option<Locked>>>> + Send {
        lock_each(self, keys)
    }

    /// Stores `items`, then releases `mutexes` (held by this process, as
    /// [`Backend::try_lock_multi`] gives them); a backend that can does both in one round trip.
    /// Gives the outcome of the store, and of each release in the order of `mutexes`.
    fn set_multi_and_release(
        &self,
        items: &[(CacheKey, Bytes)],
        mutexes: Vec<Arc<dyn BackendMutex>>,
    ) -> impl Future<Output = (Result<()>, Vec<Result<()>>)> + Send {
        store_then_release(self, items, mutexes)
    }

    /// A key mangler the region uses when it is given none (dogpile's backend
    /// `key_mangler`): a backend whose store limits keys (length, characters) supplies one.
    /// The default is none.
    fn key_mangler(&self) -> Option<KeyMangler> {
        None
    }

    /// What the backend can do.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// Where the backend keeps tag invalidations for every process that shares it, if it is
    /// shared (see [`TagStore`]). The default is none: a region keeps them in process.
    fn tag_store(&self) -> Option<SharedTagStore> {
        None
    }
}

/// One key's mutex taken by [`Backend::try_lock_multi`], with the value read under it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Locked {
    /// The key's mutex, held by this process; `None` for a backend without one.
    pub mutex: Option<Arc<dyn BackendMutex>>,
    /// The bytes at the key, read after the mutex was taken.
    pub value: Option<Bytes>,
}

impl Locked {
    /// A taken mutex and the value read under it (for backends implementing
    /// [`Backend::try_lock_multi`]).
    pub fn new(mutex: Option<Arc<dyn BackendMutex>>, value: Option<Bytes>) -> Self {
        Locked { mutex, value }
    }
}

/// [`Backend::try_lock_multi`]'s default: each key's mutex in turn, then one read of the keys
/// taken.
pub(crate) async fn lock_each<B: Backend + ?Sized>(backend: &B, keys: &[CacheKey]) -> Result<Vec<Option<Locked>>> {
    let mut taken: Vec<Option<Option<Arc<dyn BackendMutex>>>> = Vec::with_capacity(keys.len());
    for key in keys {
        let mutex = backend.get_mutex(key);
        let got = match &mutex {
            Some(m) => m.acquire(false).await,
            None => Ok(true),
        };
        match got {
            Ok(got) => taken.push(got.then_some(mutex)),
            Err(err) => {
                release_each(taken.into_iter().flatten().flatten()).await;
                return Err(err);
            }
        }
    }
    let to_read: Vec<CacheKey> = keys.iter().zip(&taken).filter(|(_, t)| t.is_some()).map(|(k, _)| k.clone()).collect();
    let values = match to_read.is_empty() {
        true => Vec::new(),
        false => match backend.get_multi(&to_read).await {
            Ok(values) => values,
            Err(err) => {
                release_each(taken.into_iter().flatten().flatten()).await;
                return Err(err);
            }
        },
    };
    let mut values = values.into_iter();
    Ok(taken.into_iter().map(|t| t.map(|mutex| Locked { mutex, value: values.next().flatten() })).collect())
}

/// [`Backend::set_multi_and_release`]'s default: the store, then each release.
pub(crate) async fn store_then_release<B: Backend + ?Sized>(
    backend: &B,
    items: &[(CacheKey, Bytes)],
    mutexes: Vec<Arc<dyn BackendMutex>>,
) -> (Result<()>, Vec<Result<()>>) {
    let stored = if items.is_empty() { Ok(()) } else { backend.set_multi(items).await };
    let mut released = Vec::with_capacity(mutexes.len());
    for mutex in mutexes {
        released.push(mutex.release().await);
    }
    (stored, released)
}

/// Releases each mutex, ignoring failures (a mutex left behind expires by its timeout).
async fn release_each(mutexes: impl Iterator<Item = Arc<dyn BackendMutex>>) {
    for mutex in mutexes {
        let _ = mutex.release().await;
    }
}

/// A mutex offered by a backend (dogpile's `CacheMutex`), for one key. Each object holds its
/// own ownership token, so `release` frees only what this object acquired. (`Any`, so that
/// a backend can recognize its own mutexes, for example to release many in one round trip.)
pub trait BackendMutex: std::any::Any + Send + Sync + fmt::Debug {
    /// Acquires the mutex. With `wait = false` returns at once; with `wait = true` waits up to
    /// the backend's blocking timeout. Returns whether the mutex is now held by this object.
    fn acquire(&self, wait: bool) -> BoxFuture<'_, Result<bool>>;

    /// Releases the mutex acquired by this object.
    ///
    /// # Errors
    ///
    /// A backend may report a mutex that vanished before release
    /// ([`Error::LockLost`](crate::Error::LockLost)), depending on its policy.
    fn release(&self) -> BoxFuture<'_, Result<()>>;

    /// Whether anyone holds the mutex, without acquiring it.
    fn locked(&self) -> BoxFuture<'_, Result<bool>>;

    /// Whether this object holds the mutex now, as the backend sees it: false when it never
    /// took it, released it, or lost it (a distributed lock that expired and that another
    /// holder took). The default answers that the backend cannot tell.
    fn owned(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async {
            Err(crate::Error::backend(crate::BackendErrorKind::Other, "this backend's mutex cannot tell its holder"))
        })
    }

    /// Waits until nobody holds the mutex, without taking it (at once if it is free), within
    /// the bound the backend puts on `acquire(true)`; returns whether it saw the mutex free
    /// (false: the bound passed). The region's waiters call this, then read the value the
    /// holder most likely stored, and try the mutex only if it is not there. The default takes
    /// the mutex and gives it back.
    fn wait_unlocked(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            if self.acquire(true).await? {
                self.release().await?;
                Ok(true)
            } else {
                Ok(false)
            }
        })
    }
}
