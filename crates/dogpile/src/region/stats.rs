//! Counters of what the region did.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::striped::Striped;

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
    /// Creator calls, successful or not, in the caller or in a background task (a
    /// `get_or_create_multi` creator call counts once).
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
    /// Creator calls that returned an error.
    pub creator_errors: u64,
    /// Waits for a distributed lock that ran past its blocking timeout ([`Error::LockTimeout`](crate::Error::LockTimeout)).
    pub lock_timeouts: u64,
    /// Stored entries that did not decode (served as missing, or returned as
    /// [`Error::Codec`](crate::Error::Codec), as the decode-error policy says).
    pub decode_errors: u64,
    /// Failed backend calls, whether a caller saw the error or it went to the error sink.
    pub backend_errors: u64,
}

/// The region's counters, mirrored into its `metrics` handles with that feature.
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
    creator_errors: AtomicU64,
    lock_timeouts: AtomicU64,
    decode_errors: AtomicU64,
    backend_errors: AtomicU64,
    #[cfg(feature = "metrics")]
    metrics: crate::metrics::RegionMetrics,
}

/// Bumps `$counter` and, with the `metrics` feature, the handle of the same name.
macro_rules! count {
    ($self:ident . $counter:ident) => {{
        bump(&$self.$counter);
        #[cfg(feature = "metrics")]
        $self.metrics.$counter.increment(1);
    }};
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// Counters of the region `name` over `backend`, with the `metrics` feature also
    /// recorded through handles from the installed recorder.
    pub(crate) fn new(name: &str, backend: &'static str) -> Self {
        #[cfg(feature = "metrics")]
        return Counters { metrics: crate::metrics::RegionMetrics::new(name, backend), ..Counters::default() };
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (name, backend);
            Counters::default()
        }
    }

    pub(crate) fn hit(&self) {
        self.hits_and_misses(1, 0);
    }
    pub(crate) fn miss(&self) {
        self.hits_and_misses(0, 1);
    }
    pub(crate) fn hits_and_misses(&self, hits: usize, misses: usize) {
        if hits > 0 {
            self.hits.add(hits as u64);
            #[cfg(feature = "metrics")]
            self.metrics.hits.increment(hits as u64);
        }
        if misses > 0 {
            self.misses.add(misses as u64);
            #[cfg(feature = "metrics")]
            self.metrics.misses.increment(misses as u64);
        }
    }
    pub(crate) fn stale(&self) {
        count!(self.stale);
    }
    pub(crate) fn wait(&self) {
        count!(self.waits);
    }
    pub(crate) fn create(&self) {
        count!(self.creates);
    }
    fn background(&self) {
        count!(self.background);
    }
    pub(crate) fn fail_safe(&self) {
        count!(self.fail_safe);
    }
    pub(crate) fn creator_timeout(&self) {
        count!(self.creator_timeouts);
    }
    pub(crate) fn fail_open(&self) {
        count!(self.fail_open);
    }
    pub(crate) fn breaker_opened(&self) {
        count!(self.breaker_opened);
    }
    pub(crate) fn early_refresh(&self) {
        count!(self.early_refreshes);
    }
    pub(crate) fn creator_error(&self) {
        count!(self.creator_errors);
    }
    pub(crate) fn lock_timeout(&self) {
        count!(self.lock_timeouts);
    }
    pub(crate) fn decode_error(&self) {
        count!(self.decode_errors);
    }
    pub(crate) fn backend_error(&self, _kind: crate::BackendErrorKind) {
        bump(&self.backend_errors);
        #[cfg(feature = "metrics")]
        self.metrics.backend_error(_kind);
    }
    /// Counts `error` if it is a backend failure or a lock timeout.
    pub(crate) fn error(&self, error: &crate::Error) {
        match error {
            crate::Error::Backend { kind, .. } => self.backend_error(*kind),
            crate::Error::LockTimeout { .. } => self.lock_timeout(),
            _ => {}
        }
    }

    /// Records how long a region call took (with the `metrics` feature).
    #[cfg(feature = "metrics")]
    pub(crate) fn operation(&self, op: super::Operation, took: std::time::Duration) {
        self.metrics.operation(op, took);
    }

    /// Records how long a creator call took (with the `metrics` feature).
    pub(crate) fn creation(&self, _took: std::time::Duration) {
        #[cfg(feature = "metrics")]
        self.metrics.creation(_took);
    }

    /// Counts how a read-through call was served (its creator call, if any, is counted where
    /// it runs).
    pub(crate) fn record(&self, outcome: Outcome) {
        match outcome {
            Outcome::Fresh => self.hit(),
            Outcome::Stale => self.stale(),
            Outcome::StaleBackground => {
                self.stale();
                self.background();
            }
            Outcome::AfterWait => self.wait(),
            Outcome::Created => self.miss(),
            Outcome::CreatedAfterWait => {
                self.miss();
                self.wait();
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
            creator_errors: get(&self.creator_errors),
            lock_timeouts: get(&self.lock_timeouts),
            decode_errors: get(&self.decode_errors),
            backend_errors: get(&self.backend_errors),
        }
    }
}
