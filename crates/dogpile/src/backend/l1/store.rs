//! The L1's entries and what keeps them coherent.
//!
//! Every key name (a plain key, or the hash's name for a hash key) falls into one of
//! [`STRIPES`] stripes. A read or write takes a [`Ticket`] (the flush epoch and its stripe's
//! generation) before it goes to the backend, and stores what it got only if neither moved
//! meanwhile: an invalidation, or a write made here, moves the stripe's generation on, so a
//! read still in flight does not store an older value. Storing, writing and invalidating take
//! the stripe's lock, so that none of them slips between another's check and its change.
//!
//! An invalidated plain key is removed; the fields of an invalidated hash are not listed
//! anywhere, so each hash entry records its stripe's hash generation, and is served only while
//! that is current. A flush moves the epoch on, which every entry records.
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::stats::Counters;
use crate::backend::memory::bounded::{self, Bound};
use crate::key::{CacheKey, KeyRef};

/// The number of stripes: a read in flight is not stored when its stripe moved on, and an
/// invalidated hash also drops the fields of the other hashes in its stripe (misses, never
/// stale values), once in this many names.
const STRIPES: usize = 1024;

#[derive(Default)]
struct Stripe {
    /// Moved on by each invalidation and each write made here, under `lock`.
    generation: AtomicU64,
    /// Moved on by each invalidation, under `lock`; recorded by hash entries.
    hashes: AtomicU64,
    lock: Mutex<()>,
}

#[derive(Clone)]
struct Entry {
    value: Bytes,
    /// The flush epoch when stored.
    epoch: u64,
    /// For a hash key, its stripe's hash generation when stored.
    hashes: Option<u64>,
    /// When the entry's time to live ends, if the L1 has one.
    until: Option<Instant>,
}

impl bounded::Weighed for Entry {
    fn value_len(&self) -> usize {
        self.value.len()
    }
}

/// Collects what one insert pushed out of the cache: the entries evicted to keep within the
/// bound, and the entry it replaced (the cache reports both alike), told apart by the caller.
#[derive(Clone)]
struct Evictions;

impl quick_cache::Lifecycle<CacheKey, Entry> for Evictions {
    type RequestState = Vec<CacheKey>;

    fn begin_request(&self) -> Self::RequestState {
        Vec::new()
    }

    fn on_evict(&self, pushed_out: &mut Vec<CacheKey>, key: CacheKey, _entry: Entry) {
        pushed_out.push(key);
    }
}

type Cache = quick_cache::sync::Cache<CacheKey, Entry, bounded::Weigher, foldhash::fast::RandomState, Evictions>;

/// What a read or write saw before it went to the backend: its stripe and the stripe's
/// generation then. `None` when the L1 does not take this key (outside its prefixes, or the
/// L1 is not trusted).
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket {
    stripe: usize,
    epoch: u64,
    generation: u64,
}

pub(super) struct Store {
    cache: Cache,
    time_to_live: Option<Duration>,
    stripes: Box<[Stripe]>,
    epoch: AtomicU64,
    hasher: foldhash::fast::FixedState,
    prefixes: Vec<String>,
    trusted: AtomicBool,
    pub(super) counters: std::sync::Arc<Counters>,
    pub(super) bound: Bound,
}

impl Store {
    pub(super) fn new(
        bound: Bound,
        time_to_live: Option<Duration>,
        prefixes: Vec<String>,
        trusted: bool,
        backend: &'static str,
    ) -> Self {
        let counters = Arc::new(Counters::new(backend));
        let (weigher, capacity, items) = bounded::Weigher::of(bound);
        let cache = Cache::with(items, capacity, weigher, foldhash::fast::RandomState::default(), Evictions);
        Store {
            cache,
            time_to_live,
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            epoch: AtomicU64::new(0),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed_d09e),
            prefixes,
            trusted: AtomicBool::new(trusted),
            counters,
            bound,
        }
    }

    /// The name the backend stores `key` under (the hash's name for a hash key).
    pub(super) fn name(key: KeyRef<'_>) -> &str {
        match key {
            KeyRef::Plain(key) | KeyRef::Hash { name: key, .. } => key,
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
    pub(super) fn get(&self, key: KeyRef<'_>) -> Option<Bytes> {
        if !self.is_trusted() {
            return None;
        }
        let entry = self.cache.get(&key)?;
        let current = entry.epoch == self.epoch.load(Ordering::Acquire)
            && entry.hashes.is_none_or(|hashes| {
                hashes == self.stripes[self.stripe(Self::name(key).as_bytes())].hashes.load(Ordering::Acquire)
            })
            && entry.until.is_none_or(|until| Instant::now() < until);
        current.then_some(entry.value)
    }

    /// A ticket for a read or write of `key` about to go to the backend.
    pub(super) fn ticket(&self, key: &CacheKey) -> Option<Ticket> {
        let name = Self::name(key.as_key_ref());
        if !self.takes(name) {
            return None;
        }
        let stripe = self.stripe(name.as_bytes());
        // The epoch first: a flush stores "untrusted" before it moves the epoch on, so a
        // ticket that finds the L1 trusted after this load holds an epoch from before any
        // flush that could have followed, and what it stores is dropped by that flush.
        let epoch = self.epoch.load(Ordering::Acquire);
        let generation = self.stripes[stripe].generation.load(Ordering::Acquire);
        self.is_trusted().then_some(Ticket { stripe, epoch, generation })
    }

    fn lock(&self, stripe: usize) -> MutexGuard<'_, ()> {
        self.stripes[stripe].lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether nothing moved since `ticket` was taken (under the stripe's lock).
    fn unmoved(&self, ticket: Ticket) -> bool {
        self.epoch.load(Ordering::Acquire) == ticket.epoch
            && self.stripes[ticket.stripe].generation.load(Ordering::Acquire) == ticket.generation
    }

    fn store(&self, key: &CacheKey, value: Bytes, ticket: Ticket) {
        let hashes = key.is_hash().then(|| self.stripes[ticket.stripe].hashes.load(Ordering::Acquire));
        let until = self.time_to_live.map(|ttl| Instant::now() + ttl);
        let pushed_out =
            self.cache.insert_with_lifecycle(key.clone(), Entry { value, epoch: ticket.epoch, hashes, until });
        // The entry this one replaced is no eviction.
        let evicted = pushed_out.iter().filter(|k| *k != key).count();
        if evicted > 0 {
            self.counters.evicted(evicted as u64);
        }
    }

    /// Keeps `value`, read from the backend at `key` under `ticket`, unless the key's stripe
    /// moved on since (the value read may then be older than the backend's).
    pub(super) fn fill(&self, key: &CacheKey, value: Bytes, ticket: Option<Ticket>) {
        let Some(ticket) = ticket else { return };
        let _locked = self.lock(ticket.stripe);
        if self.unmoved(ticket) {
            self.store(key, value, ticket);
        }
    }

    /// After a write of `value` (`None`: a delete, or a write that failed) at `key` under
    /// `ticket`: moves the stripe on, so that reads begun before the write do not store what
    /// they read, and keeps the value only if nothing moved meanwhile. When another write or
    /// an invalidation came between, which of the two the backend kept is unknown here, so the
    /// key is dropped instead.
    pub(super) fn wrote(&self, key: &CacheKey, value: Option<Bytes>, ticket: Option<Ticket>) {
        let name = Self::name(key.as_key_ref());
        if !self.takes(name) {
            return;
        }
        let stripe = self.stripe(name.as_bytes());
        let _locked = self.lock(stripe);
        let unmoved = ticket.is_some_and(|ticket| self.unmoved(ticket));
        self.stripes[stripe].generation.fetch_add(1, Ordering::AcqRel);
        match (value, ticket) {
            (Some(value), Some(ticket)) if unmoved => self.store(key, value, ticket),
            _ => {
                self.cache.remove(key);
            }
        }
    }

    /// Drops every entry under the name `name` (a key, or a hash with all its fields).
    pub(super) fn invalidate(&self, name: &[u8]) {
        let stripe = self.stripe(name);
        {
            let _locked = self.lock(stripe);
            self.stripes[stripe].generation.fetch_add(1, Ordering::AcqRel);
            self.stripes[stripe].hashes.fetch_add(1, Ordering::AcqRel);
            if let Ok(name) = std::str::from_utf8(name) {
                self.cache.remove(&CacheKey::Plain(name.to_owned()));
            }
        }
        self.counters.invalidated();
    }

    /// Drops every entry.
    pub(super) fn flush(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.clear();
        self.counters.flushed();
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
