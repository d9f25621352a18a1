//! The in-process memory backend (the embedded default).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use indexmap::IndexMap;

use super::{Backend, Capabilities};
use crate::error::{Error, Result};
use crate::key::CacheKey;
use crate::registry::Arguments;

/// How many entries eviction looks at to pick the least recently used one.
const EVICTION_SAMPLE: usize = 5;

/// Values kept in this process's memory. Clones share the same store.
///
/// Plain and hash keys are both stored (a hash key is one entry). With a
/// [capacity](MemoryBackendBuilder::capacity), inserting a new key into a full store evicts an
/// entry that was not used recently (an approximate LRU over a small random sample, as Redis
/// does).
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

#[derive(Default)]
struct Inner {
    map: RwLock<Map>,
    capacity: Option<usize>,
    tick: AtomicU64,
    rng: AtomicU64,
}

/// Keys are hashed with foldhash: fast on short keys. Keys come from the application, and the
/// map is in-process, so a DoS-resistant hash buys nothing here.
type Map = IndexMap<CacheKey, Entry, foldhash::fast::RandomState>;

struct Entry {
    value: Bytes,
    last_used: AtomicU64,
}

/// Builds a [`MemoryBackend`].
#[derive(Debug, Default)]
#[must_use]
pub struct MemoryBackendBuilder {
    capacity: Option<usize>,
}

impl MemoryBackendBuilder {
    /// Keeps at most `capacity` entries (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// The backend.
    pub fn build(self) -> MemoryBackend {
        MemoryBackend {
            inner: Arc::new(Inner {
                capacity: self.capacity,
                rng: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
                ..Inner::default()
            }),
        }
    }
}

impl MemoryBackend {
    /// A builder.
    pub fn builder() -> MemoryBackendBuilder {
        MemoryBackendBuilder::default()
    }

    /// Builds from configuration arguments: `capacity` (integer, optional). Other keys are
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `capacity` is not a positive integer.
    pub fn from_arguments(args: &Arguments) -> Result<Self> {
        let mut builder = MemoryBackend::builder();
        if let Some(capacity) = args.get_u64("capacity")? {
            let capacity = usize::try_from(capacity)
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| Error::config("capacity", "expected a positive integer"))?;
            builder = builder.capacity(capacity);
        }
        Ok(builder.build())
    }

    /// The number of entries.
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
        map.get(key).map(|entry| {
            if self.inner.capacity.is_some() {
                entry.last_used.store(self.tick(), Ordering::Relaxed);
            }
            entry.value.clone()
        })
    }

    fn insert(&self, map: &mut Map, key: &CacheKey, value: Bytes) {
        let last_used = AtomicU64::new(self.tick());
        if let Some(entry) = map.get_mut(key) {
            *entry = Entry { value, last_used };
            return;
        }
        if let Some(capacity) = self.inner.capacity {
            while map.len() >= capacity {
                let victim = self.pick_victim(map);
                map.swap_remove_index(victim);
            }
        }
        map.insert(key.clone(), Entry { value, last_used });
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
        f.debug_struct("MemoryBackend").field("len", &self.len()).field("capacity", &self.inner.capacity).finish()
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
