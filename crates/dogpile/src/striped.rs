//! A counter that every hit bumps, in stripes: hits on several threads write to no shared
//! cache line.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The stripes of a counter.
const STRIPES: usize = 8;

/// A counter in stripes on their own cache lines, each thread bumping one: hits on several
/// threads do not contend for one line. Read by summing the stripes.
#[derive(Debug, Default)]
pub(crate) struct Striped([Padded; STRIPES]);

#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

impl Striped {
    pub(crate) fn add(&self, n: u64) {
        thread_local! {
            static STRIPE: usize = {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES
            };
        }
        let stripe = STRIPE.try_with(|s| *s).unwrap_or(0);
        self.0[stripe].0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.iter().map(|p| p.0.load(Ordering::Relaxed)).fold(0, u64::wrapping_add)
    }
}
