//! Fail-safe: an expired value stands in when regenerating it fails.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::key::CacheKey;

/// Serve an expired value when its regeneration fails, instead of the error.
///
/// When the creator returns an error (or runs past the
/// [hard creator timeout](crate::RegionBuilder::creator_timeout)) while an expired value
/// exists that was created no more than `max_age` ago, the caller gets that value, the error
/// goes to the region's [error sink](crate::RegionBuilder::on_background_error), and
/// [`RegionStats::fail_safe`](crate::region::RegionStats::fail_safe) counts it. For `throttle`
/// afterwards this process does not try to regenerate that key again: its expired value is
/// served at once, so a failing database is not hit by every call. A missing value cannot be
/// stood in for: its creator's error reaches the caller.
///
/// The value must still be in the backend: with Redis, a `redis_expiration_time` shorter than
/// `max_age` deletes it first. Set `redis_expiration_time` to at least `max_age`.
///
/// Off by default: dogpile returns the creator's error.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use dogpile::region::{CreateOptions, FailSafe};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> dogpile::Result<()> {
/// let region = dogpile::Region::builder()
///     .expiration_time(Duration::from_secs(60))
///     // Values up to an hour old stand in for a failing database; retry it every 30 s.
///     .fail_safe(FailSafe::new(Duration::from_secs(3600)).throttle(Duration::from_secs(30)))
///     .build()?;
/// // A call that must have a fresh value or an error:
/// let strict = CreateOptions::<u32>::new().no_fail_safe();
/// let n = region.get_or_create_with("n", &strict, || async { Ok::<_, std::io::Error>(1) }).await?;
/// assert_eq!(n, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub struct FailSafe {
    pub(crate) max_age: Duration,
    pub(crate) throttle: Duration,
}

/// How long a key whose regeneration failed is not tried again, unless set.
pub const DEFAULT_FAIL_SAFE_THROTTLE: Duration = Duration::from_secs(30);

impl FailSafe {
    /// Expired values created up to `max_age` ago stand in for a failed regeneration; the
    /// throttle is [`DEFAULT_FAIL_SAFE_THROTTLE`].
    pub fn new(max_age: Duration) -> Self {
        FailSafe { max_age, throttle: DEFAULT_FAIL_SAFE_THROTTLE }
    }

    /// After a failed regeneration, the key is not tried again for `throttle` in this process
    /// (zero: every call tries).
    pub fn throttle(mut self, throttle: Duration) -> Self {
        self.throttle = throttle;
        self
    }
}

/// Keys whose regeneration failed, with the time (clock seconds) until which they are not
/// tried again.
#[derive(Debug, Default)]
pub(crate) struct Throttled {
    until: Mutex<HashMap<CacheKey, f64>>,
}

/// Above this many entries, expired ones are dropped when another is added.
const PRUNE_ABOVE: usize = 1024;

impl Throttled {
    pub(crate) fn is_throttled(&self, key: &CacheKey, now: f64) -> bool {
        let map = self.until.lock().unwrap_or_else(|p| p.into_inner());
        !map.is_empty() && map.get(key).is_some_and(|until| now < *until)
    }

    pub(crate) fn throttle(&self, key: &CacheKey, until: f64, now: f64) {
        let mut map = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= PRUNE_ABOVE {
            map.retain(|_, until| now < *until);
        }
        map.insert(key.clone(), until);
    }

    /// Forgets `key` (its regeneration succeeded).
    pub(crate) fn clear(&self, key: &CacheKey) {
        let mut map = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if !map.is_empty() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_until_the_time_given_and_pruned() {
        let throttled = Throttled::default();
        let key = CacheKey::from("k");
        assert!(!throttled.is_throttled(&key, 0.0));
        throttled.throttle(&key, 10.0, 0.0);
        assert!(throttled.is_throttled(&key, 9.9));
        assert!(!throttled.is_throttled(&key, 10.0));
        throttled.clear(&key);
        assert!(!throttled.is_throttled(&key, 1.0));
        for i in 0..PRUNE_ABOVE {
            throttled.throttle(&CacheKey::from(format!("old{i}")), 5.0, 0.0);
        }
        throttled.throttle(&key, 100.0, 50.0);
        assert_eq!(throttled.until.lock().unwrap().len(), 1);
    }
}
