//! What an L1 counts.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::striped::Striped;

#[derive(Debug, Default)]
pub(super) struct Counters {
    hits: Striped,
    misses: AtomicU64,
    evictions: AtomicU64,
    invalidations: AtomicU64,
    flushes: AtomicU64,
    #[cfg(feature = "metrics")]
    metrics: L1Metrics,
}

/// A snapshot of what an [`L1Backend`](super::L1Backend) did since it was built.
///
/// # Examples
///
/// ```
/// use dogpile::backend::{L1Backend, MemoryBackend};
///
/// let l1 = L1Backend::builder().capacity(1_000).build(MemoryBackend::default());
/// let stats = l1.stats();
/// assert_eq!((stats.hits, stats.misses), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct L1Stats {
    /// Reads answered from the L1.
    pub hits: u64,
    /// Reads of keys the L1 takes that went to the backend.
    pub misses: u64,
    /// Entries dropped to keep within the bound.
    pub evictions: u64,
    /// Names invalidated by the invalidation source (each key, or each hash with its fields).
    pub invalidations: u64,
    /// Times every entry was dropped at once: when the invalidation source lost its
    /// connection, or asked for it.
    pub flushes: u64,
    /// Entries held now.
    pub entries: u64,
}

impl Counters {
    /// Counters that also record the `metrics` of the L1 in front of `backend`.
    pub(super) fn new(backend: &'static str) -> Self {
        let _ = backend;
        Counters {
            #[cfg(feature = "metrics")]
            metrics: L1Metrics::new(backend),
            ..Counters::default()
        }
    }

    pub(super) fn hit(&self) {
        self.hits.add(1);
        #[cfg(feature = "metrics")]
        self.metrics.hits.increment(1);
    }

    pub(super) fn missed(&self, n: u64) {
        self.misses.fetch_add(n, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.metrics.misses.increment(n);
    }

    pub(super) fn evicted(&self, n: u64) {
        self.evictions.fetch_add(n, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.metrics.evictions.increment(n);
    }

    pub(super) fn invalidated(&self) {
        self.invalidations.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.metrics.invalidations.increment(1);
    }

    pub(super) fn flushed(&self) {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.metrics.flushes.increment(1);
    }

    pub(super) fn snapshot(&self, entries: u64) -> L1Stats {
        L1Stats {
            hits: self.hits.get(),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            entries,
        }
    }
}

/// The counters of one L1 (no-op handles by default).
#[cfg(feature = "metrics")]
#[derive(Debug)]
struct L1Metrics {
    hits: metrics::Counter,
    misses: metrics::Counter,
    evictions: metrics::Counter,
    invalidations: metrics::Counter,
    flushes: metrics::Counter,
}

#[cfg(feature = "metrics")]
impl Default for L1Metrics {
    fn default() -> Self {
        use metrics::Counter;
        L1Metrics {
            hits: Counter::noop(),
            misses: Counter::noop(),
            evictions: Counter::noop(),
            invalidations: Counter::noop(),
            flushes: Counter::noop(),
        }
    }
}

#[cfg(feature = "metrics")]
impl L1Metrics {
    fn new(backend: &'static str) -> Self {
        use crate::metrics::{BACKEND, L1_EVICTIONS, L1_FLUSHES, L1_HITS, L1_INVALIDATIONS, L1_MISSES};
        let counter = |name: &'static str| metrics::counter!(name, BACKEND => backend);
        L1Metrics {
            hits: counter(L1_HITS),
            misses: counter(L1_MISSES),
            evictions: counter(L1_EVICTIONS),
            invalidations: counter(L1_INVALIDATIONS),
            flushes: counter(L1_FLUSHES),
        }
    }
}
