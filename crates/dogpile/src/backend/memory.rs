//! The in-process memory backend (the embedded default).

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;

use super::{Backend, Capabilities};
use crate::error::{Error, Result};
use crate::key::CacheKey;
use crate::registry::Arguments;

/// How many entries eviction looks at to pick the least recently used one.
const EVICTION_SAMPLE: usize = 5;

/// How many entries each write checks for a passed lifetime: more than the one it adds, so
/// the sweep goes round the whole store while the store grows by one entry per write.
const SWEEP_PER_WRITE: usize = 8;

/// Values kept in this process's memory. Clones share the same store.
///
/// Plain and hash keys are both stored (a hash key is one entry). With a
/// [capacity](MemoryBackendBuilder::capacity), inserting a new key into a full store evicts an
/// entry that was not used recently (an approximate LRU over a small random sample, as Redis
/// does).
///
/// With a [time to live](MemoryBackendBuilder::time_to_live), an entry is gone once it has
/// been stored that long (the counterpart of the Redis backends' `redis_expiration_time`):
/// reads no longer see it, and writes reclaim its memory as they go, each checking a few
/// entries in turn, so a store whose keys are never read again does not grow with them. Give
/// it more than the region's expiration time, so that expired values can still be served while
/// one caller regenerates them.
///
/// # Examples
///
/// ```
/// use dogpile::backend::MemoryBackend;
/// use dogpile::Region;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> dogpile::Result<()> {
/// let backend = MemoryBackend::builder().capacity(10_000).build();
/// let region = Region::builder().backend(backend.clone()).build()?;
/// region.set("k", &"v").await?;
/// assert_eq!(backend.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryBackend {
    inner: Arc<Inner>,
}

struct Inner {
    map: RwLock<Map>,
    capacity: Option<usize>,
    tick: AtomicU64,
    rng: AtomicU64,
    /// The entries' lifetime, if they have one.
    time_to_live: Option<Duration>,
    /// Where lifetimes are counted from (milliseconds since then).
    epoch: Instant,
    /// Where the next write's sweep for passed lifetimes starts.
    sweep_at: AtomicUsize,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            map: RwLock::default(),
            capacity: None,
            tick: AtomicU64::new(0),
            rng: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
            time_to_live: None,
            epoch: Instant::now(),
            sweep_at: AtomicUsize::new(0),
        }
    }
}

/// Keys are hashed with foldhash: fast on short keys. Keys come from the application, and the
/// map is in-process, so a DoS-resistant hash buys nothing here.
type Map = IndexMap<CacheKey, Entry, foldhash::fast::RandomState>;

struct Entry {
    value: Bytes,
    last_used: AtomicU64,
    /// When the entry's lifetime ends (milliseconds since the store's epoch; `u64::MAX`: never).
    expires_at: u64,
}

/// Builds a [`MemoryBackend`].
#[derive(Debug, Default)]
#[must_use]
pub struct MemoryBackendBuilder {
    capacity: Option<usize>,
    time_to_live: Option<Duration>,
}

impl MemoryBackendBuilder {
    /// Keeps at most `capacity` entries (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// Drops each entry once it has been stored for `time_to_live` (at least 1 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use dogpile::backend::MemoryBackend;
    ///
    /// // Values are regenerated after 5 minutes, and reclaimed after an hour without a write.
    /// let backend = MemoryBackend::builder().time_to_live(Duration::from_secs(3600)).build();
    /// let region = dogpile::Region::builder()
    ///     .backend(backend)
    ///     .expiration_time(Duration::from_secs(300))
    ///     .build()?;
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn time_to_live(mut self, time_to_live: Duration) -> Self {
        self.time_to_live = Some(time_to_live.max(Duration::from_millis(1)));
        self
    }

    /// The backend.
    pub fn build(self) -> MemoryBackend {
        MemoryBackend {
            inner: Arc::new(Inner { capacity: self.capacity, time_to_live: self.time_to_live, ..Inner::default() }),
        }
    }
}

impl MemoryBackend {
    /// A builder.
    pub fn builder() -> MemoryBackendBuilder {
        MemoryBackendBuilder::default()
    }

    /// Builds from configuration arguments: `capacity` (integer, optional) and
    /// `time_to_live` (seconds, optional). Other keys are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `capacity` is not a positive integer or `time_to_live` not a
    /// non-negative number.
    pub fn from_arguments(args: &Arguments) -> Result<Self> {
        let mut builder = MemoryBackend::builder();
        if let Some(time_to_live) = args.get_seconds("time_to_live")? {
            builder = builder.time_to_live(time_to_live);
        }
        if let Some(capacity) = args.get_u64("capacity")? {
            let capacity = usize::try_from(capacity)
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| Error::config("capacity", "expected a positive integer"))?;
            builder = builder.capacity(capacity);
        }
        Ok(builder.build())
    }

    /// The number of entries, including those whose lifetime has passed and that no write has
    /// reclaimed yet.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every entry.
    pub fn clear(&self) {
        self.write().clear();
    }

    /// Reclaims every entry whose lifetime has passed now, rather than as writes go.
    pub fn remove_expired(&self) {
        if self.inner.time_to_live.is_some() {
            let now = self.now();
            self.write().retain(|_, entry| entry.expires_at > now);
        }
    }

    /// Milliseconds since the store's epoch.
    fn now(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// When an entry written now ends.
    fn expires_at(&self) -> u64 {
        match self.inner.time_to_live {
            Some(ttl) => self.now().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
            None => u64::MAX,
        }
    }

    /// Removes the entries past their lifetime among the next few in turn.
    fn sweep(&self, map: &mut Map) {
        if self.inner.time_to_live.is_none() || map.is_empty() {
            return;
        }
        let now = self.now();
        let mut at = self.inner.sweep_at.load(Ordering::Relaxed);
        for _ in 0..SWEEP_PER_WRITE {
            if map.is_empty() {
                break;
            }
            if at >= map.len() {
                at = 0;
            }
            // A removal moves the last entry here: it is checked next.
            match map.get_index(at) {
                Some((_, entry)) if entry.expires_at <= now => {
                    map.swap_remove_index(at);
                }
                _ => at += 1,
            }
        }
        self.inner.sweep_at.store(at, Ordering::Relaxed);
    }

    fn read(&self) -> RwLockReadGuard<'_, Map> {
        self.inner.map.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Map> {
        self.inner.map.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn tick(&self) -> u64 {
        self.inner.tick.fetch_add(1, Ordering::Relaxed)
    }

    fn lookup(&self, map: &Map, key: &CacheKey) -> Option<Bytes> {
        let entry = map.get(key)?;
        if self.inner.time_to_live.is_some() && entry.expires_at <= self.now() {
            return None;
        }
        if self.inner.capacity.is_some() {
            entry.last_used.store(self.tick(), Ordering::Relaxed);
        }
        Some(entry.value.clone())
    }

    fn insert(&self, map: &mut Map, key: &CacheKey, value: Bytes) {
        self.sweep(map);
        let last_used = AtomicU64::new(self.tick());
        let expires_at = self.expires_at();
        if let Some(entry) = map.get_mut(key) {
            *entry = Entry { value, last_used, expires_at };
            return;
        }
        if let Some(capacity) = self.inner.capacity {
            while map.len() >= capacity {
                let victim = self.pick_victim(map);
                map.swap_remove_index(victim);
            }
        }
        map.insert(key.clone(), Entry { value, last_used, expires_at });
    }

    fn pick_victim(&self, map: &Map) -> usize {
        let len = map.len() as u64;
        (0..EVICTION_SAMPLE)
            .map(|_| (self.random() % len) as usize)
            .min_by_key(|&i| map.get_index(i).map_or(0, |(_, e)| e.last_used.load(Ordering::Relaxed)))
            .unwrap_or(0)
    }

    fn random(&self) -> u64 {
        // xorshift64*: a cheap sampler, not for anything that needs to be unpredictable.
        let mut x = self.inner.rng.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.inner.rng.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        Ok(self.lookup(&self.read(), key))
    }

    fn get_ready(&self, key: &CacheKey) -> Option<Result<Option<Bytes>>> {
        Some(Ok(self.lookup(&self.read(), key)))
    }

    async fn get_multi(&self, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>> {
        let map = self.read();
        Ok(keys.iter().map(|key| self.lookup(&map, key)).collect())
    }

    async fn set(&self, key: &CacheKey, value: Bytes) -> Result<()> {
        self.insert(&mut self.write(), key, value);
        Ok(())
    }

    async fn set_multi(&self, items: &[(CacheKey, Bytes)]) -> Result<()> {
        let mut map = self.write();
        for (key, value) in items {
            self.insert(&mut map, key, value.clone());
        }
        Ok(())
    }

    async fn delete(&self, key: &CacheKey) -> Result<()> {
        self.write().swap_remove(key);
        Ok(())
    }

    async fn delete_multi(&self, keys: &[CacheKey]) -> Result<()> {
        let mut map = self.write();
        for key in keys {
            map.swap_remove(key);
        }
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("len", &self.len())
            .field("capacity", &self.inner.capacity)
            .field("time_to_live", &self.inner.time_to_live)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn capacity_bounds_the_store_and_keeps_recent_entries() {
        let backend = MemoryBackend::builder().capacity(100).build();
        let hot = CacheKey::from("hot");
        backend.set(&hot, Bytes::from_static(b"h")).await.unwrap();
        for i in 0..1_000 {
            backend.set(&CacheKey::from(format!("k{i}")), Bytes::from_static(b"v")).await.unwrap();
            // Keep one key in use: sampled LRU must not pick it while colder keys exist.
            assert!(backend.get(&hot).await.unwrap().is_some(), "hot key evicted at {i}");
        }
        assert_eq!(backend.len(), 100);
    }

    #[tokio::test]
    async fn entries_past_their_lifetime_are_not_read_and_writes_reclaim_them() {
        let backend = MemoryBackend::builder().time_to_live(Duration::from_millis(200)).build();
        for i in 0..1_000 {
            backend.set(&CacheKey::from(format!("old{i}")), Bytes::from_static(b"v")).await.unwrap();
        }
        assert!(backend.get(&"old7".into()).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(backend.get(&"old7".into()).await.unwrap().is_none(), "past its lifetime");
        assert_eq!(backend.len(), 1_000, "not reclaimed by reads");
        // Keys that are never read again: the writes of new keys reclaim them.
        for i in 0..400 {
            backend.set(&CacheKey::from(format!("new{i}")), Bytes::from_static(b"v")).await.unwrap();
        }
        assert_eq!(backend.len(), 400);
        assert!(backend.get(&"new0".into()).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(250)).await;
        backend.remove_expired();
        assert!(backend.is_empty());
    }

    #[tokio::test]
    async fn without_a_lifetime_entries_stay() {
        let backend = MemoryBackend::default();
        backend.set(&"k".into(), Bytes::from_static(b"v")).await.unwrap();
        backend.remove_expired();
        assert_eq!(backend.len(), 1);
        let mut args = Arguments::new();
        args.insert("time_to_live", 0.5);
        let configured = MemoryBackend::from_arguments(&args).unwrap();
        assert_eq!(configured.inner.time_to_live, Some(Duration::from_millis(500)));
        args.insert("time_to_live", "soon");
        let wrong = MemoryBackend::from_arguments(&args);
        assert!(matches!(wrong, Err(Error::Config { .. })), "{wrong:?}");
    }

    #[tokio::test]
    async fn overwrite_does_not_evict() {
        let backend = MemoryBackend::builder().capacity(2).build();
        for _ in 0..10 {
            backend.set(&"a".into(), Bytes::from_static(b"1")).await.unwrap();
        }
        backend.set(&"b".into(), Bytes::from_static(b"2")).await.unwrap();
        assert_eq!(backend.len(), 2);
        assert!(backend.get(&"a".into()).await.unwrap().is_some());
    }
}
