//! Region-wide invalidation (dogpile's `RegionInvalidationStrategy`).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Decides which values a region-wide [`invalidate`](crate::Region::invalidate) affects.
///
/// The default keeps the time of the last call in memory, so it affects this process only;
/// an implementation can keep it in a shared store to invalidate across processes.
///
/// # Examples
///
/// A strategy that treats everything created before a fixed deploy time as invalid:
///
/// ```
/// use dogpile::region::InvalidationStrategy;
///
/// #[derive(Debug)]
/// struct CreatedBefore(f64);
///
/// impl InvalidationStrategy for CreatedBefore {
///     fn invalidate(&self, _hard: bool, _now: f64) {}
///     fn is_hard_invalidated(&self, ct: f64) -> bool {
///         ct < self.0
///     }
///     fn is_soft_invalidated(&self, _ct: f64) -> bool {
///         false
///     }
///     fn was_soft_invalidated(&self) -> bool {
///         false
///     }
/// }
///
/// # async fn run() -> dogpile::Result<()> {
/// let region = dogpile::Region::builder()
///     .invalidation_strategy(CreatedBefore(1_700_000_000.0))
///     .build()?;
/// # Ok(())
/// # }
/// ```
pub trait InvalidationStrategy: Send + Sync + fmt::Debug + 'static {
    /// Records an invalidation at `now`: `hard` makes older values misses, soft makes them stale.
    fn invalidate(&self, hard: bool, now: f64);
    /// True when a value created at `ct` is a miss.
    fn is_hard_invalidated(&self, ct: f64) -> bool;
    /// True when a value created at `ct` must be regenerated (served stale meanwhile).
    fn is_soft_invalidated(&self, ct: f64) -> bool;
    /// True when the last invalidation was soft.
    fn was_soft_invalidated(&self) -> bool;
    /// True when a value created at `ct` is invalidated either way.
    fn is_invalidated(&self, ct: f64) -> bool {
        self.is_hard_invalidated(ct) || self.is_soft_invalidated(ct)
    }
}

/// The default strategy: the time and kind of the last `invalidate` call, in memory.
#[derive(Debug, Default)]
pub struct DefaultInvalidation {
    at: AtomicU64,
    hard: AtomicBool,
}

impl DefaultInvalidation {
    fn at(&self) -> Option<f64> {
        match self.at.load(Ordering::Acquire) {
            0 => None,
            bits => Some(f64::from_bits(bits)),
        }
    }
}

impl InvalidationStrategy for DefaultInvalidation {
    fn invalidate(&self, hard: bool, now: f64) {
        self.hard.store(hard, Ordering::Release);
        self.at.store(now.to_bits(), Ordering::Release);
    }

    fn is_hard_invalidated(&self, ct: f64) -> bool {
        self.hard.load(Ordering::Acquire) && self.at().is_some_and(|at| ct < at)
    }

    fn is_soft_invalidated(&self, ct: f64) -> bool {
        !self.hard.load(Ordering::Acquire) && self.at().is_some_and(|at| ct < at)
    }

    fn was_soft_invalidated(&self) -> bool {
        !self.hard.load(Ordering::Acquire) && self.at().is_some()
    }
}
