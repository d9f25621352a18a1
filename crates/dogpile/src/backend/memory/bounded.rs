//! The store of a bounded memory backend: quick_cache's S3-FIFO cache, which admits a new
//! entry into its main queue only once it is read again, so that keys read once do not push
//! out the keys read often.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::key::{CacheKey, KeyRef};

/// What an entry weighs under a bound in bytes, besides its key and value: the cache's own
/// bookkeeping, about.
const ENTRY_OVERHEAD: usize = 100;

/// A bound on an in-process store (a memory backend, an L1): entries, or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::backend) enum Bound {
    Entries(u64),
    Bytes(u64),
}

impl Bound {
    /// The bound given by the arguments `capacity` (entries) or `max_bytes`, if either.
    pub(in crate::backend) fn from_arguments(args: &crate::config::Arguments) -> crate::Result<Option<Bound>> {
        use crate::Error;
        let positive = |name: &str| -> crate::Result<Option<u64>> {
            match args.get_u64(name)? {
                Some(0) => Err(Error::config(name, "expected a positive integer")),
                other => Ok(other),
            }
        };
        match (positive("capacity")?, positive("max_bytes")?) {
            (Some(_), Some(_)) => {
                Err(Error::config("max_bytes", "give either capacity (entries) or max_bytes, not both"))
            }
            (Some(entries), None) => Ok(Some(Bound::Entries(entries))),
            (None, Some(bytes)) => Ok(Some(Bound::Bytes(bytes))),
            (None, None) => Ok(None),
        }
    }
}

/// What an entry of `key` and a value of `value_len` bytes weighs under a bound in bytes.
pub(in crate::backend) fn weight(key: &CacheKey, value_len: usize) -> u32 {
    let key_len = match key {
        CacheKey::Plain(key) => key.len(),
        CacheKey::Hash { name, field } => name.len() + field.len(),
    };
    u32::try_from(key_len + value_len + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
}

/// An entry's value, for [`Weigher`].
pub(in crate::backend) trait Weighed {
    /// The length of the value's bytes.
    fn value_len(&self) -> usize;
}

/// What an entry weighs: 1 under a bound in entries; its key, value and bookkeeping under a
/// bound in bytes.
#[derive(Debug, Clone, Copy)]
pub(in crate::backend) struct Weigher {
    by_bytes: bool,
}

impl Weigher {
    /// The weigher of `bound`, with the capacity to give the cache, and about how many
    /// entries it will hold (for the first sizing of its table).
    pub(in crate::backend) fn of(bound: Bound) -> (Weigher, u64, usize) {
        match bound {
            Bound::Entries(entries) => {
                (Weigher { by_bytes: false }, entries, usize::try_from(entries).unwrap_or(usize::MAX))
            }
            // About a kilobyte per entry.
            Bound::Bytes(bytes) => {
                (Weigher { by_bytes: true }, bytes, usize::try_from(bytes / 1024).unwrap_or(usize::MAX).max(16))
            }
        }
    }
}

impl<V: Weighed> quick_cache::Weighter<CacheKey, V> for Weigher {
    fn weight(&self, key: &CacheKey, value: &V) -> u64 {
        match self.by_bytes {
            true => u64::from(weight(key, value.value_len())),
            false => 1,
        }
    }
}

#[derive(Clone)]
struct Entry {
    value: Bytes,
    /// When the entry's lifetime ends, if the store gives one.
    until: Option<Instant>,
}

impl Weighed for Entry {
    fn value_len(&self) -> usize {
        self.value.len()
    }
}

pub(super) struct Bounded {
    cache: quick_cache::sync::Cache<CacheKey, Entry, Weigher, foldhash::fast::RandomState>,
    time_to_live: Option<Duration>,
}

impl Bounded {
    pub(super) fn new(bound: Bound, time_to_live: Option<Duration>) -> Self {
        let (weigher, capacity, items) = Weigher::of(bound);
        let cache = quick_cache::sync::Cache::with(
            items,
            capacity,
            weigher,
            foldhash::fast::RandomState::default(),
            Default::default(),
        );
        Bounded { cache, time_to_live }
    }

    pub(super) fn time_to_live(&self) -> Option<Duration> {
        self.time_to_live
    }

    pub(super) fn len(&self) -> usize {
        self.cache.len()
    }

    pub(super) fn clear(&self) {
        self.cache.clear();
    }

    pub(super) fn get(&self, key: KeyRef<'_>) -> Option<Bytes> {
        let entry = self.cache.get(&key)?;
        entry.until.is_none_or(|until| Instant::now() < until).then_some(entry.value)
    }

    pub(super) fn insert(&self, key: &CacheKey, value: Bytes) {
        let until = self.time_to_live.map(|ttl| Instant::now() + ttl);
        self.cache.insert(key.clone(), Entry { value, until });
    }

    pub(super) fn remove(&self, key: &CacheKey) {
        self.cache.remove(key);
    }

    pub(super) fn remove_expired(&self) {
        if self.time_to_live.is_some() {
            let now = Instant::now();
            self.cache.retain(|_, entry| entry.until.is_none_or(|until| now < until));
        }
    }
}
