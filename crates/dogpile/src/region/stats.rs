//! Counters of what the region did.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::lock::Outcome;

/// A snapshot of a region's counters since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegionStats {
    /// Reads that found a fresh value.
    pub hits: u64,
    /// Reads that found no usable value.
    pub misses: u64,
    /// Expired values served because another caller (or a background task) was regenerating.
    pub stale: u64,
    /// Callers that found no value and had to wait while another caller held the key's lock.
    pub waits: u64,
    /// Creator calls (a `get_or_create_multi` creator call counts once).
    pub creates: u64,
    /// Regenerations handed to a background task.
    pub background: u64,
    /// Expired values served by [fail-safe](crate::region::FailSafe) because regenerating
    /// them failed, or failed recently.
    pub fail_safe: u64,
    /// Creators given up on after the [hard creator timeout](crate::RegionBuilder::creator_timeout).
    pub creator_timeouts: u64,
    /// Read-through calls served without the backend during an outage ([fail-open](crate::region::FailOpen)).
    pub fail_open: u64,
    /// Times the fail-open circuit breaker opened.
    pub breaker_opened: u64,
    /// Background regenerations started early by [early refresh](crate::region::EarlyRefresh).
    pub early_refreshes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: Striped,
    misses: Striped,
    stale: AtomicU64,
    waits: AtomicU64,
    creates: AtomicU64,
    background: AtomicU64,
    fail_safe: AtomicU64,
    creator_timeouts: AtomicU64,
    fail_open: AtomicU64,
    breaker_opened: AtomicU64,
    early_refreshes: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The stripes of a counter that every hit bumps.
const STRIPES: usize = 8;

/// A counter in stripes on their own cache lines, each thread bumping one: hits on several
/// threads do not contend for one line. Read by summing the stripes.
#[derive(Debug, Default)]
struct Striped([Padded; STRIPES]);

#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

impl Striped {
    fn add(&self, n: u64) {
        thread_local! {
            static STRIPE: usize = {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES
            };
        }
        let stripe = STRIPE.try_with(|s| *s).unwrap_or(0);
        self.0[stripe].0.fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.iter().map(|p| p.0.load(Ordering::Relaxed)).fold(0, u64::wrapping_add)
    }
}

impl Counters {
    pub(crate) fn hit(&self) {
        self.hits.add(1);
    }
    pub(crate) fn miss(&self) {
        self.misses.add(1);
    }
    pub(crate) fn hits_and_misses(&self, hits: usize, misses: usize) {
        if hits > 0 {
            self.hits.add(hits as u64);
        }
        if misses > 0 {
            self.misses.add(misses as u64);
        }
    }
    pub(crate) fn stale(&self) {
        bump(&self.stale);
    }
    pub(crate) fn wait(&self) {
        bump(&self.waits);
    }
    pub(crate) fn create(&self) {
        bump(&self.creates);
    }
    pub(crate) fn fail_safe(&self) {
        bump(&self.fail_safe);
    }
    pub(crate) fn creator_timeout(&self) {
        bump(&self.creator_timeouts);
    }
    pub(crate) fn fail_open(&self) {
        bump(&self.fail_open);
    }
    pub(crate) fn breaker_opened(&self) {
        bump(&self.breaker_opened);
    }
    pub(crate) fn early_refresh(&self) {
        bump(&self.early_refreshes);
    }

    pub(crate) fn record(&self, outcome: Outcome) {
        match outcome {
            Outcome::Fresh => self.hit(),
            Outcome::Stale => self.stale(),
            Outcome::StaleBackground => {
                self.stale();
                bump(&self.background);
                self.create();
            }
            Outcome::AfterWait => self.wait(),
            Outcome::Created => {
                self.miss();
                self.create();
            }
            Outcome::CreatedAfterWait => {
                self.miss();
                self.wait();
                self.create();
            }
            Outcome::FailSafe => self.fail_safe(),
        }
    }

    pub(crate) fn snapshot(&self) -> RegionStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RegionStats {
            hits: self.hits.get(),
            misses: self.misses.get(),
            stale: get(&self.stale),
            waits: get(&self.waits),
            creates: get(&self.creates),
            background: get(&self.background),
            fail_safe: get(&self.fail_safe),
            creator_timeouts: get(&self.creator_timeouts),
            fail_open: get(&self.fail_open),
            breaker_opened: get(&self.breaker_opened),
            early_refreshes: get(&self.early_refreshes),
        }
    }
}
