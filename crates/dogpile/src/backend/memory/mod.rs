//! The in-process memory backend (the embedded default).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{Backend, Capabilities};
use crate::config::Arguments;
use crate::error::Result;
use crate::key::{CacheKey, KeyRef};

pub(super) mod bounded;
mod tags;
mod unbounded;

use bounded::{Bound, Bounded};
use unbounded::Unbounded;

/// Values kept in this process's memory. Clones share the same store.
///
/// Plain and hash keys are both stored (a hash key is one entry). Without a bound, the store
/// is a hash map behind a read-write lock: the least memory per entry, and a hit that writes
/// nothing shared. With a bound, by entries ([capacity](MemoryBackendBuilder::capacity)) or by
/// bytes ([max_bytes](MemoryBackendBuilder::max_bytes)), the store is [quick_cache]'s S3-FIFO
/// cache: a new entry waits in a small queue and reaches the main one only if it is read
/// again, so keys read once do not push out the keys read often, which keeps more hits than
/// evicting the least recently used entry under skewed traffic (as many as moka's W-TinyLFU on
/// the Zipf streams of `examples/hit_ratio.rs`).
///
/// With a [time to live](MemoryBackendBuilder::time_to_live), an entry is gone once it has
/// been stored that long (the counterpart of the Redis backends' `redis_expiration_time`):
/// reads no longer see it, and an unbounded store reclaims its memory as writes go (each
/// checking a few entries in turn), so a store whose keys are never read again does not grow
/// with them; a bounded store evicts it like any entry not read again. Give it more than the region's expiration time, so that expired values can
/// still be served while one caller regenerates them.
///
/// [quick_cache]: https://docs.rs/quick_cache
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
#[derive(Clone)]
pub struct MemoryBackend {
    store: Arc<Store>,
    tags: Arc<tags::MemoryTags>,
}

enum Store {
    Unbounded(Unbounded),
    Bounded(Bounded, Bound),
}

impl Default for MemoryBackend {
    fn default() -> Self {
        MemoryBackend::builder().build()
    }
}

/// Builds a [`MemoryBackend`].
#[derive(Debug, Default)]
#[must_use]
pub struct MemoryBackendBuilder {
    bound: Option<Bound>,
    time_to_live: Option<Duration>,
}

impl MemoryBackendBuilder {
    /// Keeps at most `capacity` entries (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.bound = Some(Bound::Entries(u64::try_from(capacity.max(1)).unwrap_or(u64::MAX)));
        self
    }

    /// Keeps at most about `bytes` bytes of keys and values (each entry also counts about 100
    /// bytes of bookkeeping), instead of a number of entries.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::backend::MemoryBackend;
    ///
    /// let backend = MemoryBackend::builder().max_bytes(64 << 20).build();
    /// ```
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.bound = Some(Bound::Bytes(bytes.max(1)));
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
        let store = match self.bound {
            None => Store::Unbounded(Unbounded::new(self.time_to_live)),
            Some(bound) => Store::Bounded(Bounded::new(bound, self.time_to_live), bound),
        };
        MemoryBackend { store: Arc::new(store), tags: Arc::default() }
    }
}

impl MemoryBackend {
    /// A builder.
    pub fn builder() -> MemoryBackendBuilder {
        MemoryBackendBuilder::default()
    }

    /// Builds from configuration arguments: `capacity` (entries) or `max_bytes`, and
    /// `time_to_live` (seconds), all optional. Other keys are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) when `capacity` or `max_bytes` is not a positive integer, both are
    /// given, or `time_to_live` is not a non-negative number.
    pub fn from_arguments(args: &Arguments) -> Result<Self> {
        let mut builder = MemoryBackend::builder();
        if let Some(time_to_live) = args.get_seconds("time_to_live")? {
            builder = builder.time_to_live(time_to_live);
        }
        builder.bound = Bound::from_arguments(args)?;
        Ok(builder.build())
    }

    /// The number of entries. Without a bound, it includes those whose lifetime has passed and
    /// that no write has reclaimed yet.
    pub fn len(&self) -> usize {
        match &*self.store {
            Store::Unbounded(store) => store.len(),
            Store::Bounded(store, _) => store.len(),
        }
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every entry.
    pub fn clear(&self) {
        match &*self.store {
            Store::Unbounded(store) => store.clear(),
            Store::Bounded(store, _) => store.clear(),
        }
    }

    /// Reclaims every entry whose lifetime has passed now, rather than as writes go.
    pub fn remove_expired(&self) {
        match &*self.store {
            Store::Unbounded(store) => store.remove_expired(),
            Store::Bounded(store, _) => store.remove_expired(),
        }
    }

    fn lookup(&self, key: KeyRef<'_>) -> Option<Bytes> {
        match &*self.store {
            Store::Unbounded(store) => store.get(key),
            Store::Bounded(store, _) => store.get(key),
        }
    }

    fn insert_many<'a>(&self, items: impl IntoIterator<Item = (&'a CacheKey, Bytes)>) {
        match &*self.store {
            Store::Unbounded(store) => store.insert_many(items),
            Store::Bounded(store, _) => items.into_iter().for_each(|(key, value)| store.insert(key, value)),
        }
    }

    fn remove_many<'a>(&self, keys: impl IntoIterator<Item = &'a CacheKey>) {
        match &*self.store {
            Store::Unbounded(store) => store.remove_many(keys),
            Store::Bounded(store, _) => keys.into_iter().for_each(|key| store.remove(key)),
        }
    }
}

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        Ok(self.lookup(key.as_key_ref()))
    }

    fn get_ready(&self, key: KeyRef<'_>) -> Option<Result<Option<Bytes>>> {
        Some(Ok(self.lookup(key)))
    }

    async fn get_multi(&self, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>> {
        Ok(match &*self.store {
            Store::Unbounded(store) => store.get_many(keys),
            Store::Bounded(store, _) => keys.iter().map(|key| store.get(key.as_key_ref())).collect(),
        })
    }

    async fn set(&self, key: &CacheKey, value: Bytes) -> Result<()> {
        self.insert_many([(key, value)]);
        Ok(())
    }

    async fn set_multi(&self, items: &[(CacheKey, Bytes)]) -> Result<()> {
        self.insert_many(items.iter().map(|(key, value)| (key, value.clone())));
        Ok(())
    }

    async fn delete(&self, key: &CacheKey) -> Result<()> {
        self.remove_many([key]);
        Ok(())
    }

    async fn delete_multi(&self, keys: &[CacheKey]) -> Result<()> {
        self.remove_many(keys);
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }

    fn tag_store(&self) -> Option<crate::backend::SharedTagStore> {
        Some(Arc::clone(&self.tags) as crate::backend::SharedTagStore)
    }
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (bound, time_to_live) = match &*self.store {
            Store::Unbounded(store) => (None, store.time_to_live()),
            Store::Bounded(store, bound) => (Some(*bound), store.time_to_live()),
        };
        f.debug_struct("MemoryBackend")
            .field("len", &self.len())
            .field("bound", &bound)
            .field("time_to_live", &time_to_live)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[tokio::test]
    async fn capacity_bounds_the_store_and_keeps_recent_entries() {
        let backend = MemoryBackend::builder().capacity(100).build();
        let hot = CacheKey::from("hot");
        backend.set(&hot, Bytes::from_static(b"h")).await.unwrap();
        for i in 0..1_000 {
            backend.set(&CacheKey::from(format!("k{i}")), Bytes::from_static(b"v")).await.unwrap();
            // Keep one key in use: a key read at every step outlives the ones read never.
            assert!(backend.get(&hot).await.unwrap().is_some(), "hot key evicted at {i}");
        }
        assert_eq!(backend.len(), 100);
    }

    #[tokio::test]
    async fn a_bound_in_bytes_holds_about_that_many_bytes() {
        let backend = MemoryBackend::builder().max_bytes(100 * 1024).build();
        let value = Bytes::from(vec![7u8; 1024]);
        for i in 0..1_000 {
            backend.set(&CacheKey::from(format!("k{i:04}")), value.clone()).await.unwrap();
        }
        // Each entry weighs its 5-byte key, its 1 KiB value and 100 bytes of bookkeeping.
        let len = backend.len();
        assert!((80..=100 * 1024 / (5 + 1024 + 100)).contains(&len), "{len} entries");
    }

    #[tokio::test]
    async fn a_bounded_store_drops_entries_past_their_lifetime() {
        let backend = MemoryBackend::builder().capacity(100).time_to_live(Duration::from_millis(100)).build();
        backend.set(&"k".into(), Bytes::from_static(b"v")).await.unwrap();
        assert!(backend.get(&"k".into()).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(backend.get(&"k".into()).await.unwrap().is_none());
        backend.remove_expired();
        assert!(backend.is_empty());
    }

    #[test]
    fn capacity_and_max_bytes_exclude_each_other() {
        let mut args = Arguments::new();
        args.insert("capacity", 10);
        args.insert("max_bytes", 1000);
        let both = MemoryBackend::from_arguments(&args);
        assert!(matches!(&both, Err(Error::Config { name, .. }) if name == "max_bytes"), "{both:?}");
        args.insert("capacity", 0);
        assert!(MemoryBackend::from_arguments(&args).is_err());
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
        assert!(format!("{configured:?}").contains("time_to_live: Some(500ms)"), "{configured:?}");
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
