//! Probabilistic early refresh (XFetch).

use std::sync::atomic::{AtomicU64, Ordering};

/// Regenerate a hot value shortly before it expires, in the background, so that no caller
/// waits for it and none is served an expired value.
///
/// This is XFetch (Vattani, Chierichetti and Lowenstein, "Optimal Probabilistic Cache
/// Stampede Prevention", PVLDB 8(8), 2015). Each value records how long its creator took
/// (`delta`, the `"d"` metadata key, which Python dogpile ignores). A hit on a value with `t`
/// seconds left before it expires starts a background regeneration with probability
/// `exp(-t / (delta * beta))`: almost never long before the expiry, almost surely in its last
/// `delta`. The regeneration is single-flight through the key's dogpile lock (a caller that
/// finds the lock held does nothing), and the caller gets the current value at once.
///
/// Early refresh runs on the read-through calls that can regenerate in the background:
/// [`Region::get_or_create_in_background`](crate::Region::get_or_create_in_background) (a plain
/// `get_or_create` has a creator that may borrow from its caller, which cannot outlive the
/// call). Values whose envelope keeps no metadata (compact, raw) or that were written without a
/// creation time (by `set`, or by Python) are not refreshed early. `beta` above 1 refreshes
/// earlier, below 1 later. Off by default.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use dogpile::region::{CreateOptions, EarlyRefresh};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> dogpile::Result<()> {
/// let region = dogpile::Region::builder()
///     .expiration_time(Duration::from_secs(60))
///     .early_refresh(EarlyRefresh::new(1.0))
///     .build()?;
/// let options = CreateOptions::new();
/// let n: u32 = region
///     .get_or_create_in_background("hot", &options, || async { Ok::<_, std::io::Error>(1) })
///     .await?;
/// assert_eq!(n, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use]
pub struct EarlyRefresh {
    pub(crate) beta: f64,
    state: AtomicU64,
}

impl EarlyRefresh {
    /// Early refresh with `beta` (1 in the paper; greater than 0).
    pub fn new(beta: f64) -> Self {
        use std::hash::{BuildHasher, RandomState};
        EarlyRefresh { beta, state: AtomicU64::new(RandomState::new().hash_one(0x5eed_u64)) }
    }

    /// Draws from a generator seeded with `seed`, so that a test can repeat a run.
    pub fn seed(self, seed: u64) -> Self {
        EarlyRefresh { beta: self.beta, state: AtomicU64::new(seed) }
    }

    /// The probability of refreshing a value with `left` seconds before it expires, made in
    /// `took` seconds.
    pub fn probability(&self, left: f64, took: f64) -> f64 {
        if left <= 0.0 {
            return 1.0;
        }
        if took <= 0.0 || !took.is_finite() {
            return 0.0;
        }
        (-left / (took * self.beta)).exp()
    }

    /// Whether this hit refreshes the value.
    pub(crate) fn fires(&self, left: f64, took: f64) -> bool {
        self.draw() < self.probability(left, took)
    }

    /// A number in `[0, 1)` (splitmix64).
    fn draw(&self) -> f64 {
        let mut z = self.state.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn probability_of_the_paper() {
        let early = EarlyRefresh::new(1.0);
        assert_eq!(early.probability(0.0, 1.0), 1.0);
        assert_eq!(early.probability(-1.0, 1.0), 1.0);
        assert!((early.probability(1.0, 1.0) - (-1.0f64).exp()).abs() < 1e-12);
        assert_eq!(early.probability(5.0, 0.0), 0.0);
        assert!(EarlyRefresh::new(2.0).probability(1.0, 1.0) > early.probability(1.0, 1.0));
    }

    #[test]
    fn a_seed_repeats_the_draws() {
        let (a, b) = (EarlyRefresh::new(1.0).seed(7), EarlyRefresh::new(1.0).seed(7));
        let draws = |e: &EarlyRefresh| (0..100).map(|_| e.fires(0.5, 1.0)).collect::<Vec<_>>();
        assert_eq!(draws(&a), draws(&b));
    }

    proptest! {
        /// The share of hits that refresh matches exp(-t / (delta * beta)).
        #[test]
        fn refresh_frequency_matches_the_probability(
            left in 0.0f64..5.0,
            took in 0.05f64..2.0,
            beta in 0.5f64..2.0,
            seed in any::<u64>(),
        ) {
            let early = EarlyRefresh::new(beta).seed(seed);
            let n = 4000;
            let fired = (0..n).filter(|_| early.fires(left, took)).count() as f64 / n as f64;
            let p = early.probability(left, took);
            // Four standard deviations of a binomial share, plus a little.
            let tolerance = 4.0 * (p * (1.0 - p) / n as f64).sqrt() + 0.01;
            prop_assert!((fired - p).abs() <= tolerance, "fired {} expected {} (left {}, took {}, beta {})", fired, p, left, took, beta);
        }
    }
}
