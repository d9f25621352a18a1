//! The store of a bounded memory backend: moka's cache, whose W-TinyLFU policy admits a new
//! entry into a full store only if it is likely to be read more often than the entry it would
//! evict.

use std::time::Duration;

use bytes::Bytes;

use crate::key::CacheKey;

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
    pub(in crate::backend) fn from_arguments(args: &crate::registry::Arguments) -> crate::Result<Option<Bound>> {
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

pub(super) struct Bounded {
    cache: moka::sync::Cache<CacheKey, Bytes, foldhash::fast::RandomState>,
}

impl Bounded {
    pub(super) fn new(bound: Bound, time_to_live: Option<Duration>) -> Self {
        let mut builder = moka::sync::Cache::builder();
        builder = match bound {
            Bound::Entries(entries) => builder.max_capacity(entries),
            Bound::Bytes(bytes) => {
                builder.max_capacity(bytes).weigher(|key: &CacheKey, value: &Bytes| weight(key, value.len()))
            }
        };
        if let Some(time_to_live) = time_to_live {
            builder = builder.time_to_live(time_to_live);
        }
        Bounded { cache: builder.build_with_hasher(foldhash::fast::RandomState::default()) }
    }

    pub(super) fn time_to_live(&self) -> Option<Duration> {
        self.cache.policy().time_to_live()
    }

    /// The number of entries, once the cache's pending evictions are done.
    pub(super) fn len(&self) -> usize {
        self.cache.run_pending_tasks();
        usize::try_from(self.cache.entry_count()).unwrap_or(usize::MAX)
    }

    pub(super) fn clear(&self) {
        self.cache.invalidate_all();
        self.cache.run_pending_tasks();
    }

    pub(super) fn get(&self, key: &CacheKey) -> Option<Bytes> {
        self.cache.get(key)
    }

    pub(super) fn insert(&self, key: &CacheKey, value: Bytes) {
        self.cache.insert(key.clone(), value);
    }

    pub(super) fn remove(&self, key: &CacheKey) {
        self.cache.invalidate(key);
    }

    pub(super) fn remove_expired(&self) {
        self.cache.run_pending_tasks();
    }
}
