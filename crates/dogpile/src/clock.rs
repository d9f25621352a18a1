//! Time sources: the system clock and a manual clock for tests.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time in seconds since the Unix epoch.
///
/// The region takes creation times and expiry decisions from its clock, so tests can move
/// time forward without sleeping (see [`MockClock`]).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> f64;

    /// Seconds since the Unix epoch, for the freshness check of a hit: a reading that may lag
    /// [`Clock::now`] by a few milliseconds, never lead it, and costs less. A hit may then
    /// serve a value that expired those few milliseconds ago. Creation times and
    /// invalidations always take [`Clock::now`]. The default is [`Clock::now`].
    fn now_coarse(&self) -> f64 {
        self.now()
    }
}

/// The system's wall clock (the default).
///
/// On Linux, [`Clock::now_coarse`] reads the kernel's coarse wall clock
/// (`CLOCK_REALTIME_COARSE`, which lags by at most one tick: 1 to 10 ms) in a few
/// nanoseconds, where a precise reading takes tens of them.
///
/// # Examples
///
/// ```
/// use dogpile::{Clock, SystemClock};
///
/// let (coarse, now) = (SystemClock.now_coarse(), SystemClock.now());
/// assert!(coarse <= now && now - coarse < 0.1);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn now_coarse(&self) -> f64 {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
    }
}

/// A clock that moves only when told to. Clones share the same time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use dogpile::{Clock, MockClock};
///
/// let clock = MockClock::new(1_000.0);
/// clock.advance(Duration::from_millis(1_500));
/// assert_eq!(clock.now(), 1_001.5);
/// ```
#[derive(Clone)]
pub struct MockClock {
    bits: Arc<AtomicU64>,
}

impl MockClock {
    /// A clock standing at `now` seconds since the epoch.
    pub fn new(now: f64) -> Self {
        MockClock { bits: Arc::new(AtomicU64::new(now.to_bits())) }
    }

    /// A clock standing at the current system time.
    pub fn at_system_time() -> Self {
        MockClock::new(SystemClock.now())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut current = self.bits.load(Ordering::SeqCst);
        loop {
            let next = (f64::from_bits(current) + by.as_secs_f64()).to_bits();
            match self.bits.compare_exchange(current, next, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// Sets the clock to `now` seconds since the epoch.
    pub fn set(&self, now: f64) {
        self.bits.store(now.to_bits(), Ordering::SeqCst);
    }
}

impl Clock for MockClock {
    fn now(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::SeqCst))
    }
}

impl fmt::Debug for MockClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockClock").field("now", &self.now()).finish()
    }
}
