//! The in-process per-key mutex, and the guard that joins it to a backend's mutex.
//!
//! Entries live in the table only while some task holds or waits for the key's mutex: the last
//! handle to go removes the entry, so the table does not grow with the number of keys ever
//! locked. Guards release on drop, so a cancelled creator frees the key and wakes the next
//! waiter.
//!
//! A holder that lets go can leave the key's value (its stored bytes) in the entry, for the
//! waiters it wakes: they take it instead of each reading the backend again.
//!
//! `model_check` runs every interleaving of two and three tasks through these steps under a
//! model checker; each [`switch_point`] marks where it may run another task.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::backend::BackendMutex;
use crate::error::{BackendErrorKind, Error, Result};
use crate::key::CacheKey;

#[cfg(test)]
mod model_check;

const SHARDS: usize = 64;

/// Where the model checker may run another task; nothing outside this module's tests.
#[inline(always)]
fn switch_point() {
    #[cfg(test)]
    model_check::switch_point();
}

type Shard = Mutex<HashMap<CacheKey, Slot>>;

/// One key's in-process mutex, and the signal its holder gives when it lets go (waiters that
/// only wait for the release wake together, not one after another through the mutex), with
/// the value the last holder left for them, and the number of handles on it.
struct Slot {
    sem: Arc<Semaphore>,
    released: Arc<Notify>,
    left: Arc<Mutex<Option<Bytes>>>,
    /// The [`LocalEntry`] handles alive, counted under the shard's lock: the last to go
    /// removes the slot. (Counting the semaphore's references instead left the slot behind
    /// when two handles went at once: each saw the other's.)
    users: usize,
}

/// Locks a slot's left value, whatever a panicking holder did.
fn left_of(left: &Mutex<Option<Bytes>>) -> MutexGuard<'_, Option<Bytes>> {
    left.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
        switch_point();
        let mut shard = self.shard(key);
        let slot = shard.entry(key.clone()).or_insert_with(|| Slot {
            sem: Arc::new(Semaphore::new(1)),
            released: Arc::new(Notify::new()),
            left: Arc::new(Mutex::new(None)),
            users: 0,
        });
        slot.users += 1;
        LocalEntry {
            map: Arc::clone(self),
            key: key.clone(),
            sem: Arc::clone(&slot.sem),
            released: Arc::clone(&slot.released),
            left: Arc::clone(&slot.left),
        }
    }

    /// Takes the mutexes of a multi-key read-through's keys in their order, each given with
    /// whether it is missing (has no value), as far as the read-through can use them: after a
    /// key held elsewhere, only the missing keys' mutexes are tried (an expired key after it
    /// is served stale), and after a missing key held elsewhere, none (the keys from it on are
    /// locked one by one, waiting). The others get `None`, untried.
    ///
    /// Tasks that take the same expired keys in the same order thus never split them: the one
    /// that takes the first key gets all those no third task holds, and the others get none.
    pub(crate) fn try_lock_batch<'k>(
        self: &Arc<Self>,
        keys: impl Iterator<Item = (&'k CacheKey, bool)>,
    ) -> Vec<Option<LocalGuard>> {
        let (mut after_held, mut stop) = (false, false);
        keys.map(|(key, missing)| {
            if stop || (after_held && !missing) {
                return None;
            }
            let guard = self.entry(key).try_lock();
            if guard.is_none() {
                (after_held, stop) = (true, missing);
            }
            guard
        })
        .collect()
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
    left: Arc<Mutex<Option<Bytes>>>,
}

impl LocalEntry {
    /// Takes the mutex if it is free.
    pub(crate) fn try_lock(self) -> Option<LocalGuard> {
        switch_point();
        let permit = Arc::clone(&self.sem).try_acquire_owned().ok()?;
        Some(self.held(permit))
    }

    /// The guard of a permit just taken: what an earlier holder left is old news now.
    fn held(self, permit: OwnedSemaphorePermit) -> LocalGuard {
        switch_point();
        left_of(&self.left).take();
        LocalGuard { permit: Some(permit), _entry: self }
    }

    /// Waits until the mutex is free, without taking it (at once if it is free). Gives the
    /// value the holder left when it let go, if this call waited for it and it left one.
    pub(crate) async fn wait_released(self) -> Option<Bytes> {
        let released = self.released.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        switch_point();
        if self.sem.available_permits() == 0 {
            released.await;
            switch_point();
            return left_of(&self.left).clone();
        }
        None
    }

    /// Waits for the mutex. Cancel-safe: a dropped waiter leaves the queue and the table.
    pub(crate) async fn lock(self) -> Result<LocalGuard> {
        switch_point();
        let acquire = Arc::clone(&self.sem).acquire_owned();
        match acquire.await {
            Ok(permit) => Ok(self.held(permit)),
            Err(closed) => Err(Error::backend(BackendErrorKind::Other, closed).with_key(self.key.clone())),
        }
    }
}

impl Drop for LocalEntry {
    fn drop(&mut self) {
        switch_point();
        let mut shard = self.map.shard(&self.key);
        if let Some(slot) = shard.get_mut(&self.key)
            && Arc::ptr_eq(&slot.sem, &self.sem)
        {
            slot.users = slot.users.saturating_sub(1);
            // The last handle: nobody else holds or waits for this key.
            if slot.users == 0 {
                shard.remove(&self.key);
            }
        }
        drop(shard);
        // Our handles on the slot go after this, with the fields.
        switch_point();
    }
}

/// A held in-process mutex. On drop the permit goes first, then the waiters for the release
/// are woken, then the entry goes, which then sees itself as the last user and clears the
/// table.
pub(crate) struct LocalGuard {
    /// `None` only while dropping.
    permit: Option<OwnedSemaphorePermit>,
    _entry: LocalEntry,
}

impl LocalGuard {
    /// Leaves the key's value for the waiters this holder wakes when it lets go.
    pub(crate) fn leave(&self, value: Bytes) {
        switch_point();
        *left_of(&self._entry.left) = Some(value);
    }
}

impl Drop for LocalGuard {
    fn drop(&mut self) {
        // The permit before the signal: a waiter that checks the permits after registering
        // for the signal either sees the mutex free or gets the signal, never neither.
        drop(self.permit.take());
        switch_point();
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

    /// Leaves the key's value for the in-process waiters woken when this guard lets go.
    pub(crate) fn leave(&self, value: Bytes) {
        if let Some(local) = &self.local {
            local.leave(value);
        }
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

/// How a wait for a key's mutex ended.
#[derive(Debug)]
pub(crate) enum Waited {
    /// The mutex was seen free; `Some` with what is at the key (`Some(None)`: nothing) when
    /// the holder left its value or the wait read it.
    Free(Option<Option<Bytes>>),
    /// The backend's bound on waiting passed.
    GaveUp,
}

/// Waits until `key`'s mutex is free, without taking it. A task of this process holding it
/// is waited for in-process only: when it lets go, it has released the backend's mutex too
/// (or waited for it to be free), so the waiters behind it go on at once, in a cascade.
/// Otherwise the backend's mutex is waited for while holding the in-process one, so that only
/// one task per process waits on the backend; once the backend's mutex is free, that task
/// reads the key with `read` and leaves the value for the others.
pub(crate) async fn wait_key<R>(
    locks: &Arc<LocalMutexMap>,
    remote: Option<Arc<dyn BackendMutex>>,
    key: &CacheKey,
    read: impl FnOnce() -> R,
) -> Result<Waited>
where
    R: Future<Output = Result<Option<Bytes>>>,
{
    match locks.entry(key).try_lock() {
        Some(held) => match remote {
            Some(remote) => {
                if !remote.wait_unlocked().await.map_err(|e| e.with_key(key))? {
                    return Ok(Waited::GaveUp);
                }
                let value = read().await?;
                if let Some(value) = &value {
                    held.leave(value.clone());
                }
                Ok(Waited::Free(Some(value)))
            }
            None => Ok(Waited::Free(None)),
        },
        None => Ok(Waited::Free(locks.entry(key).wait_released().await.map(Some))),
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiters_take_the_value_their_holder_left_and_only_they() {
        let map = LocalMutexMap::new();
        let key = CacheKey::from("k");
        let holder = map.entry(&key).lock().await.unwrap();
        let waiters: Vec<_> = (0..4).map(|_| tokio::spawn(map.entry(&key).wait_released())).collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        holder.leave(Bytes::from_static(b"v1"));
        drop(holder);
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap(), Some(Bytes::from_static(b"v1")));
        }
        // Nobody holds the mutex: no wait, nothing handed over, even while the entry lives.
        let _keep = map.entry(&key);
        assert_eq!(map.entry(&key).wait_released().await, None);
        // A new holder forgets what the previous one left.
        let holder = map.entry(&key).try_lock().expect("free");
        let waiter = tokio::spawn(map.entry(&key).wait_released());
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(holder);
        assert_eq!(waiter.await.unwrap(), None);
    }
}
