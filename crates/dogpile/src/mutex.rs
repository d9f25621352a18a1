//! The in-process per-key mutex, and the guard that joins it to a backend's mutex.
//!
//! Entries live in the table only while some task holds or waits for the key's mutex: the last
//! handle to go removes the entry, so the table does not grow with the number of keys ever
//! locked. Guards release on drop, so a cancelled creator frees the key and wakes the next
//! waiter.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::backend::BackendMutex;
use crate::error::{BackendErrorKind, Error, Result};
use crate::key::CacheKey;

const SHARDS: usize = 64;

type Shard = Mutex<HashMap<CacheKey, Slot>>;

/// One key's in-process mutex, and the signal its holder gives when it lets go (waiters that
/// only wait for the release wake together, not one after another through the mutex).
#[derive(Clone)]
struct Slot {
    sem: Arc<Semaphore>,
    released: Arc<Notify>,
}

/// The table of in-process per-key mutexes.
pub(crate) struct LocalMutexMap {
    shards: Box<[Shard]>,
    hasher: RandomState,
}

impl LocalMutexMap {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(LocalMutexMap {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        })
    }

    fn shard(&self, key: &CacheKey) -> MutexGuard<'_, HashMap<CacheKey, Slot>> {
        let index = (self.hasher.hash_one(key) as usize) % self.shards.len();
        self.shards[index].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A handle on `key`'s mutex, creating the entry if needed.
    pub(crate) fn entry(self: &Arc<Self>, key: &CacheKey) -> LocalEntry {
        let slot = self
            .shard(key)
            .entry(key.clone())
            .or_insert_with(|| Slot { sem: Arc::new(Semaphore::new(1)), released: Arc::new(Notify::new()) })
            .clone();
        LocalEntry { map: Arc::clone(self), key: key.clone(), sem: slot.sem, released: slot.released }
    }

    /// Whether some task holds `key`'s mutex. Never acquires it.
    pub(crate) fn is_locked(&self, key: &CacheKey) -> bool {
        self.shard(key).get(key).is_some_and(|slot| slot.sem.available_permits() == 0)
    }

    /// The number of keys in the table.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len()).sum()
    }
}

impl fmt::Debug for LocalMutexMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalMutexMap").field("len", &self.len()).finish()
    }
}

/// A handle on one key's in-process mutex.
pub(crate) struct LocalEntry {
    map: Arc<LocalMutexMap>,
    key: CacheKey,
    sem: Arc<Semaphore>,
    released: Arc<Notify>,
}

impl LocalEntry {
    /// Takes the mutex if it is free.
    pub(crate) fn try_lock(self) -> Option<LocalGuard> {
        let permit = Arc::clone(&self.sem).try_acquire_owned().ok()?;
        Some(LocalGuard { _permit: permit, _entry: self })
    }

    /// Waits until the mutex is free, without taking it (at once if it is free).
    pub(crate) async fn wait_released(self) {
        let released = self.released.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        if self.sem.available_permits() == 0 {
            released.await;
        }
    }

    /// Waits for the mutex. Cancel-safe: a dropped waiter leaves the queue and the table.
    pub(crate) async fn lock(self) -> Result<LocalGuard> {
        let acquire = Arc::clone(&self.sem).acquire_owned();
        match acquire.await {
            Ok(permit) => Ok(LocalGuard { _permit: permit, _entry: self }),
            Err(closed) => Err(Error::backend(BackendErrorKind::Other, closed).with_key(self.key.clone())),
        }
    }
}

impl Drop for LocalEntry {
    fn drop(&mut self) {
        let mut shard = self.map.shard(&self.key);
        // The table's reference and ours: nobody else holds or waits for this key.
        if Arc::strong_count(&self.sem) <= 2
            && shard.get(&self.key).is_some_and(|current| Arc::ptr_eq(&current.sem, &self.sem))
        {
            shard.remove(&self.key);
        }
    }
}

/// A held in-process mutex. Fields drop in order: the permit first, then the entry, which
/// then sees itself as the last user and clears the table.
pub(crate) struct LocalGuard {
    _permit: OwnedSemaphorePermit,
    _entry: LocalEntry,
}

impl Drop for LocalGuard {
    fn drop(&mut self) {
        // The waiters for the release go on once this drop ends (the permit goes with it).
        self._entry.released.notify_waiters();
    }
}

/// The dogpile mutex of one key, as the region takes it: the in-process mutex first (so only
/// one task per process goes on to the backend), then the backend's mutex if it has one.
pub(crate) struct KeyGuard {
    remote: Option<Arc<dyn BackendMutex>>,
    /// `None` only once [`KeyGuard::into_parts`] took it.
    local: Option<LocalGuard>,
}

impl KeyGuard {
    /// A held in-process mutex joined to the backend's, held too.
    pub(crate) fn new(local: LocalGuard, remote: Option<Arc<dyn BackendMutex>>) -> Self {
        KeyGuard { remote, local: Some(local) }
    }

    /// Splits the guard: the backend's mutex (for the caller to release, for example with
    /// others in one round trip), and the in-process mutex, to drop after that release.
    pub(crate) fn into_parts(mut self) -> (Option<Arc<dyn BackendMutex>>, Option<LocalGuard>) {
        (self.remote.take(), self.local.take())
    }

    /// Releases both mutexes, the backend's first.
    pub(crate) async fn release(mut self) -> Result<()> {
        match self.remote.take() {
            Some(remote) => remote.release().await,
            None => Ok(()),
        }
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        // Dropped without `release` (the holder's future was cancelled): free the backend's
        // mutex in the background; the local one is freed by the field drops.
        if let Some(remote) = self.remote.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(async move {
                let _ = remote.release().await;
            });
        }
    }
}

impl fmt::Debug for KeyGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyGuard").field("remote", &self.remote.is_some()).finish_non_exhaustive()
    }
}

/// Takes `key`'s mutex without waiting: `None` when someone holds it.
pub(crate) async fn try_lock_key(
    locks: &Arc<LocalMutexMap>,
    remote: Option<Arc<dyn BackendMutex>>,
    key: &CacheKey,
) -> Result<Option<KeyGuard>> {
    let Some(local) = locks.entry(key).try_lock() else {
        return Ok(None);
    };
    match remote {
        None => Ok(Some(KeyGuard { remote: None, local: Some(local) })),
        Some(remote) => {
            if remote.acquire(false).await.map_err(|e| e.with_key(key))? {
                Ok(Some(KeyGuard { remote: Some(remote), local: Some(local) }))
            } else {
                Ok(None)
            }
        }
    }
}

/// Waits until `key`'s mutex is free, without taking it. A task of this process holding it
/// is waited for in-process only: when it lets go, it has released the backend's mutex too
/// (or waited for it to be free), so the waiters behind it go on at once, in a cascade.
/// Otherwise the backend's mutex is waited for while holding the in-process one, so that only
/// one task per process waits on the backend.
/// Returns whether the mutex was seen free (false: the backend's bound on waiting passed).
pub(crate) async fn wait_key(
    locks: &Arc<LocalMutexMap>,
    remote: Option<Arc<dyn BackendMutex>>,
    key: &CacheKey,
) -> Result<bool> {
    match locks.entry(key).try_lock() {
        Some(_held) => match remote {
            Some(remote) => remote.wait_unlocked().await.map_err(|e| e.with_key(key)),
            None => Ok(true),
        },
        None => {
            locks.entry(key).wait_released().await;
            Ok(true)
        }
    }
}

/// Waits for `key`'s mutex.
pub(crate) async fn lock_key(
    locks: &Arc<LocalMutexMap>,
    remote: Option<Arc<dyn BackendMutex>>,
    key: &CacheKey,
) -> Result<KeyGuard> {
    let local = locks.entry(key).lock().await?;
    match remote {
        None => Ok(KeyGuard { remote: None, local: Some(local) }),
        Some(remote) => {
            let started = std::time::Instant::now();
            if remote.acquire(true).await.map_err(|e| e.with_key(key))? {
                Ok(KeyGuard { remote: Some(remote), local: Some(local) })
            } else {
                Err(Error::LockTimeout { key: Some(key.clone()), waited: started.elapsed() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn table_empties_after_use() {
        let map = LocalMutexMap::new();
        for i in 0..1_000 {
            let guard = map.entry(&CacheKey::from(format!("k{i}"))).lock().await.unwrap();
            drop(guard);
        }
        assert_eq!(map.len(), 0);
    }

    #[tokio::test]
    async fn exclusion_and_is_locked() {
        let map = LocalMutexMap::new();
        let key = CacheKey::from("k");
        let guard = map.entry(&key).try_lock().expect("free");
        assert!(map.is_locked(&key));
        assert!(map.entry(&key).try_lock().is_none());
        drop(guard);
        assert!(!map.is_locked(&key));
        assert_eq!(map.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_waiter_leaves_no_entry() {
        let map = LocalMutexMap::new();
        let key = CacheKey::from("k");
        let guard = map.entry(&key).lock().await.unwrap();
        let waiter = tokio::time::timeout(Duration::from_millis(10), map.entry(&key).lock()).await;
        assert!(waiter.is_err(), "the waiter must still be waiting");
        drop(guard);
        assert_eq!(map.len(), 0);
    }

    #[tokio::test]
    async fn dropped_holder_wakes_waiter() {
        let map = LocalMutexMap::new();
        let key = CacheKey::from("k");
        let holder = map.entry(&key).lock().await.unwrap();
        let waiter = tokio::spawn({
            let map = Arc::clone(&map);
            let key = key.clone();
            async move { map.entry(&key).lock().await.map(drop) }
        });
        tokio::task::yield_now().await;
        drop(holder);
        waiter.await.unwrap().unwrap();
        assert_eq!(map.len(), 0);
    }
}
