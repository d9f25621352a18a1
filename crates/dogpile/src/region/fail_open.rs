//! Fail-open: when the backend is unreachable, read-through calls are served from their
//! creators under the in-process lock, and a circuit breaker stops trying the backend for a
//! while.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::Region;
use super::stats::Count;
use crate::backend::MemoryBackend;
use crate::error::{BackendErrorKind, Error};

/// Keep serving when the backend (Redis) is down or not answering.
///
/// A `get_or_create` (single or multi) whose backend call fails with a connection error or a
/// timeout is served from its creator instead, under the in-process lock: one creator run per
/// key per process, the other callers of that key wait for it and get its value. Values made
/// during the outage live in a bounded in-process store (`capacity` entries) with the
/// region's expiration, never in the backend; the store is emptied when the backend answers
/// again.
///
/// After `failures` such errors in a row, a circuit breaker opens: for `cooldown` no call
/// tries the backend (no call waits for a socket timeout). Then calls try it again; the first
/// success closes the breaker, a failure opens it for another `cooldown`.
///
/// Plain reads and writes (`get`, `set`, `delete`) still fail with the backend's error: they
/// have no creator to fall back on. [`RegionStats::fail_open`](crate::region::RegionStats::fail_open)
/// counts the values served this way, [`RegionStats::breaker_opened`](crate::region::RegionStats::breaker_opened)
/// the times the breaker opened. Off by default: the backend's error reaches the caller.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use dogpile::region::FailOpen;
///
/// let region = dogpile::Region::builder()
///     .expiration_time(Duration::from_secs(60))
///     .fail_open(FailOpen::new().breaker(3, Duration::from_secs(2)).capacity(50_000))
///     .build()?;
/// # let _ = region;
/// # Ok::<(), dogpile::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct FailOpen {
    pub(crate) failures: u32,
    pub(crate) cooldown: Duration,
    pub(crate) capacity: usize,
}

impl FailOpen {
    /// The breaker opens after 5 failures in a row for 5 s; 10,000 entries in memory.
    pub fn new() -> Self {
        FailOpen { failures: 5, cooldown: Duration::from_secs(5), capacity: 10_000 }
    }

    /// Opens the breaker after `failures` backend failures in a row (at least 1), for
    /// `cooldown`.
    pub fn breaker(mut self, failures: u32, cooldown: Duration) -> Self {
        self.failures = failures.max(1);
        self.cooldown = cooldown;
        self
    }

    /// How many values made during an outage are kept in memory.
    pub fn capacity(mut self, entries: usize) -> Self {
        self.capacity = entries;
        self
    }
}

impl Default for FailOpen {
    fn default() -> Self {
        FailOpen::new()
    }
}

/// True for the errors that mean the backend is away: a connection error or a timeout.
pub(crate) fn is_outage(err: &Error) -> bool {
    matches!(err.backend_kind(), Some(BackendErrorKind::Connection | BackendErrorKind::Timeout))
}

/// The circuit breaker: consecutive failures, and until when (clock seconds) it is open.
/// Every read-through asks whether it is open: the answer is one atomic load, so calls on
/// several threads write to no shared line while the backend answers.
#[derive(Debug)]
pub(crate) struct Breaker {
    settings: FailOpen,
    failures: AtomicU32,
    /// Every failure noted so far: a call's success is news only if none came while it was
    /// out ([`Breaker::ticket`]).
    noted: AtomicU64,
    /// The bits of the `f64` time until which it is open; 0 when closed.
    open_until: AtomicU64,
}

impl Breaker {
    pub(crate) fn new(settings: FailOpen) -> Self {
        Breaker { settings, failures: AtomicU32::new(0), noted: AtomicU64::new(0), open_until: AtomicU64::new(0) }
    }

    pub(crate) fn settings(&self) -> FailOpen {
        self.settings
    }

    /// Whether calls skip the backend now.
    pub(crate) fn is_open(&self, now: f64) -> bool {
        Self::open_at(self.open_until.load(Ordering::Acquire), now)
    }

    fn open_at(until: u64, now: f64) -> bool {
        until != 0 && now < f64::from_bits(until)
    }

    /// Taken by a call before it tries the backend, and given back with its success.
    pub(crate) fn ticket(&self) -> u64 {
        self.noted.load(Ordering::Acquire)
    }

    /// Notes a failure; true when it opened the breaker.
    pub(crate) fn failure(&self, now: f64) -> bool {
        self.noted.fetch_add(1, Ordering::AcqRel);
        let failures = self.failures.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        if failures < self.settings.failures {
            return false;
        }
        let until = (now + self.settings.cooldown.as_secs_f64()).to_bits();
        let mut current = self.open_until.load(Ordering::Acquire);
        loop {
            if Self::open_at(current, now) {
                return false;
            }
            match self.open_until.compare_exchange(current, until, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    /// Notes the success of a call that took `ticket` before it tried the backend; true when
    /// the backend was failing until now (the breaker closes). A call that was out while a
    /// failure was noted (its reply came in before the outage, say) says nothing of the
    /// backend now: its success is no news.
    pub(crate) fn success(&self, ticket: u64) -> bool {
        if self.failures.load(Ordering::Relaxed) == 0 || self.noted.load(Ordering::Acquire) != ticket {
            return false;
        }
        self.failures.store(0, Ordering::Relaxed);
        self.open_until.store(0, Ordering::Release);
        true
    }
}

/// A region's fail-open state: the breaker, and the region over the in-process stand-in
/// store that serves during an outage (the region's settings, its in-process locks).
#[derive(Debug)]
pub(crate) struct FailOpenState {
    pub(crate) breaker: Breaker,
    pub(crate) store: Arc<MemoryBackend>,
    pub(crate) fallback: Region,
}

impl FailOpenState {
    pub(crate) fn new(settings: FailOpen, fallback: impl FnOnce(Arc<MemoryBackend>) -> Region) -> Self {
        let store = Arc::new(MemoryBackend::builder().capacity(settings.capacity).build());
        FailOpenState { breaker: Breaker::new(settings), fallback: fallback(Arc::clone(&store)), store }
    }
}

/// Whether the call still has its creator (fail-open runs it when the backend is away; a
/// call whose creator already ran keeps the backend's error).
pub(crate) fn has_creator<F>(slot: &std::sync::Mutex<Option<F>>) -> bool {
    slot.lock().unwrap_or_else(|p| p.into_inner()).is_some()
}

impl Region {
    /// Notes a backend outage under fail-open; the error goes to the sink.
    pub(crate) fn backend_away(&self, fail_open: &FailOpenState, err: &Error) {
        self.report(err);
        if fail_open.breaker.failure(self.inner.clock.now()) {
            self.inner.stats.bump(Count::BreakerOpened);
        }
    }

    /// Notes a backend success under fail-open, of a call that took `ticket` before it tried
    /// the backend: after an outage, the stand-in store goes.
    pub(crate) fn backend_back(&self, fail_open: &FailOpenState, ticket: u64) {
        if fail_open.breaker.success(ticket) {
            fail_open.store.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_for_the_cooldown() {
        let breaker = Breaker::new(FailOpen::new().breaker(3, Duration::from_secs(5)));
        assert!(!breaker.failure(0.0) && !breaker.failure(0.0));
        assert!(breaker.success(breaker.ticket()), "a success after failures resets the count");
        assert!(!breaker.success(breaker.ticket()), "and is no news after that");
        assert!(!breaker.failure(0.0) && !breaker.failure(0.0));
        assert!(breaker.failure(1.0), "the third failure in a row opens it");
        assert!(breaker.is_open(5.9) && !breaker.is_open(6.0));
        assert!(!breaker.failure(2.0), "already open");
        assert!(breaker.failure(6.5), "a failed probe opens it again");
        assert!(breaker.is_open(11.4));
        assert!(breaker.success(breaker.ticket()));
        assert!(!breaker.is_open(7.0));
    }

    /// A call out while the backend went away, whose reply had come in before, succeeds after
    /// others failed: that says nothing of the backend now, and the breaker stays as it is.
    #[test]
    fn a_success_of_a_call_out_while_a_failure_was_noted_is_no_news() {
        let breaker = Breaker::new(FailOpen::new().breaker(2, Duration::from_secs(5)));
        let out_before = breaker.ticket();
        assert!(!breaker.failure(0.0));
        assert!(!breaker.success(out_before), "the older call's success");
        assert!(breaker.failure(0.5), "the count went on: the second failure in a row opens it");
        assert!(!breaker.success(out_before) && breaker.is_open(1.0));
        assert!(breaker.success(breaker.ticket()), "a call that started after the failures closes it");
        assert!(!breaker.is_open(1.0));
    }
}
