//! The L1's entries and what keeps them coherent: a generation per stripe of key names.
//!
//! Every key name (a plain key, or the hash's name for a hash key) falls into one of
//! [`STRIPES`] stripes. An entry records its stripe's generation when it was stored, and is
//! served only while that generation is current; invalidating a name moves its stripe on,
//! which drops at once every entry under it (each field of a hash among them) and every read
//! still in flight that would store an older value. A flush moves every stripe on.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::stats::Counters;
use crate::backend::memory::bounded::{self, Bound};
use crate::key::CacheKey;

/// The number of stripes: a name invalidated also drops the entries of the other names in its
/// stripe (a miss, never a stale value), once in this many names.
const STRIPES: usize = 4096;

#[derive(Clone)]
struct Entry {
    value: Bytes,
    generation: u64,
    /// When the entry's time to live ends, if the L1 has one.
    until: Option<Instant>,
}

/// What an entry weighs: 1 under a bound in entries; its key, value and bookkeeping under a
/// bound in bytes.
#[derive(Clone)]
struct Weigher {
    by_bytes: bool,
}

impl quick_cache::Weighter<CacheKey, Entry> for Weigher {
    fn weight(&self, key: &CacheKey, entry: &Entry) -> u64 {
        match self.by_bytes {
            true => u64::from(bounded::weight(key, entry.value.len())),
            false => 1,
        }
    }
}

/// Counts the entries evicted to keep within the bound.
#[derive(Clone)]
struct CountEvictions(Arc<Counters>);

impl quick_cache::Lifecycle<CacheKey, Entry> for CountEvictions {
    type RequestState = ();

    fn begin_request(&self) -> Self::RequestState {}

    fn on_evict(&self, _state: &mut (), _key: CacheKey, _entry: Entry) {
        self.0.evictions.fetch_add(1, Ordering::Relaxed);
    }
}

type Cache = quick_cache::sync::Cache<CacheKey, Entry, Weigher, foldhash::fast::RandomState, CountEvictions>;

/// What a read or write saw before it went to the backend: its stripe and the stripe's
/// generation then. `None` when the L1 does not take this key (outside its prefixes, or the
/// L1 is not trusted).
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket {
    stripe: usize,
    generation: u64,
}

pub(super) struct Store {
    cache: Cache,
    time_to_live: Option<Duration>,
    stripes: Box<[AtomicU64]>,
    hasher: foldhash::fast::FixedState,
    prefixes: Vec<String>,
    trusted: AtomicBool,
    pub(super) counters: std::sync::Arc<Counters>,
    pub(super) bound: Bound,
}

impl Store {
    pub(super) fn new(bound: Bound, time_to_live: Option<Duration>, prefixes: Vec<String>, trusted: bool) -> Self {
        let counters = Arc::new(Counters::default());
        let (weigher, capacity, items) = match bound {
            Bound::Entries(entries) => (Weigher { by_bytes: false }, entries, entries),
            // About a kilobyte per entry, for the first sizing of the table.
            Bound::Bytes(bytes) => (Weigher { by_bytes: true }, bytes, (bytes / 1024).max(16)),
        };
        let cache = Cache::with(
            usize::try_from(items).unwrap_or(usize::MAX),
            capacity,
            weigher,
            foldhash::fast::RandomState::default(),
            CountEvictions(Arc::clone(&counters)),
        );
        Store {
            cache,
            time_to_live,
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed_d09e),
            prefixes,
            trusted: AtomicBool::new(trusted),
            counters,
            bound,
        }
    }

    /// The name the backend stores `key` under (the hash's name for a hash key).
    pub(super) fn name(key: &CacheKey) -> &str {
        match key {
            CacheKey::Plain(key) => key,
            CacheKey::Hash { name, .. } => name,
        }
    }

    fn stripe(&self, name: &[u8]) -> usize {
        // Truncation is the point: the low bits pick the stripe.
        (self.hasher.hash_one(name) as usize) % STRIPES
    }

    /// Whether the L1 keeps values of the name `name`.
    pub(super) fn takes(&self, name: &str) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }

    pub(super) fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    pub(super) fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    /// The value at `key` if the L1 holds a current one.
    pub(super) fn get(&self, key: &CacheKey) -> Option<Bytes> {
        if !self.is_trusted() {
            return None;
        }
        let entry = self.cache.get(key)?;
        let stripe = self.stripe(Self::name(key).as_bytes());
        let current = entry.generation == self.stripes[stripe].load(Ordering::Acquire)
            && entry.until.is_none_or(|until| Instant::now() < until);
        current.then_some(entry.value)
    }

    /// A ticket for a read or write of `key` about to go to the backend.
    pub(super) fn ticket(&self, key: &CacheKey) -> Option<Ticket> {
        let name = Self::name(key);
        if !self.takes(name) {
            return None;
        }
        let stripe = self.stripe(name.as_bytes());
        // The generation first: a flush stores "untrusted" before it moves the stripes on, so
        // a ticket that finds the L1 trusted after this load holds a generation from before
        // any flush that could have followed, and what it stores is dropped by that flush.
        let generation = self.stripes[stripe].load(Ordering::Acquire);
        self.is_trusted().then_some(Ticket { stripe, generation })
    }

    /// Keeps `value`, read from the backend at `key` under `ticket`, unless the key's stripe
    /// was invalidated since (the value read may then be older than the backend's).
    pub(super) fn fill(&self, key: &CacheKey, value: Bytes, ticket: Option<Ticket>) {
        let Some(ticket) = ticket else { return };
        if self.stripes[ticket.stripe].load(Ordering::Acquire) == ticket.generation {
            self.cache.insert(key.clone(), self.entry(value, ticket.generation));
        }
    }

    /// After a write of `value` (`None`: a delete) at `key` under `ticket`: keeps the value
    /// only if nothing touched the key's stripe meanwhile, and moves the stripe on so that
    /// reads begun before the write do not store what they read. When another write or an
    /// invalidation came between, which of the two the backend kept is unknown here, so the
    /// key is dropped instead.
    pub(super) fn wrote(&self, key: &CacheKey, value: Option<Bytes>, ticket: Option<Ticket>) {
        let name = Self::name(key);
        if !self.takes(name) {
            return;
        }
        if let (Some(value), Some(ticket)) = (value, ticket) {
            let next = ticket.generation.wrapping_add(1);
            if self.stripes[ticket.stripe]
                .compare_exchange(ticket.generation, next, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.cache.insert(key.clone(), self.entry(value, next));
                return;
            }
        }
        self.stripes[self.stripe(name.as_bytes())].fetch_add(1, Ordering::AcqRel);
        self.cache.remove(key);
    }

    fn entry(&self, value: Bytes, generation: u64) -> Entry {
        Entry { value, generation, until: self.time_to_live.map(|ttl| Instant::now() + ttl) }
    }

    /// Drops every entry under the name `name` (a key, or a hash with all its fields).
    pub(super) fn invalidate(&self, name: &[u8]) {
        self.stripes[self.stripe(name)].fetch_add(1, Ordering::AcqRel);
        if let Ok(name) = std::str::from_utf8(name) {
            self.cache.remove(&CacheKey::Plain(name.to_owned()));
        }
        self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops every entry.
    pub(super) fn flush(&self) {
        for stripe in self.stripes.iter() {
            stripe.fetch_add(1, Ordering::AcqRel);
        }
        self.cache.clear();
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// Stops serving and storing (`false`, after a flush) or takes up again (`true`).
    pub(super) fn set_trusted(&self, trusted: bool) {
        if trusted {
            self.trusted.store(true, Ordering::Release);
        } else {
            self.trusted.store(false, Ordering::Release);
            self.flush();
        }
    }

    pub(super) fn len(&self) -> u64 {
        self.cache.len() as u64
    }

    pub(super) fn weighted_size(&self) -> u64 {
        self.cache.weight()
    }
}
