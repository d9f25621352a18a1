//! Expiration jitter: values written together do not all expire together.
//!
//! Each entry counts as created earlier than it was by up to `fraction` of the expiration
//! time. The amount is fixed for the entry (a hash of its key and creation time), so every
//! read of that entry, in any process of this version, agrees on when it expires; a new value
//! draws anew.

use std::hash::{BuildHasher, Hash, Hasher};

use crate::key::KeyRef;

/// A number in `[0, 1)` fixed by `key` and `ct`.
pub(crate) fn unit(key: KeyRef<'_>, ct: f64) -> f64 {
    let mut hasher = foldhash::fast::FixedState::with_seed(0x5eed_d09e).build_hasher();
    key.hash(&mut hasher);
    ct.to_bits().hash(&mut hasher);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The creation time an entry created at `ct` counts as having, under `fraction` of jitter of
/// `expiration` seconds.
pub(crate) fn effective_ct(key: KeyRef<'_>, ct: f64, expiration: Option<f64>, fraction: f64) -> f64 {
    match expiration {
        Some(exp) if ct > 0.0 && fraction > 0.0 => ct - exp * fraction * unit(key, ct),
        _ => ct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::CacheKey;

    #[test]
    fn fixed_per_entry_within_the_fraction_and_spread() {
        let key = CacheKey::from("k");
        assert_eq!(
            effective_ct(key.as_key_ref(), 1000.0, Some(60.0), 0.2),
            effective_ct(key.as_key_ref(), 1000.0, Some(60.0), 0.2)
        );
        assert_eq!(effective_ct(key.as_key_ref(), 1000.0, None, 0.2), 1000.0);
        assert_eq!(effective_ct(key.as_key_ref(), 1000.0, Some(60.0), 0.0), 1000.0);
        let shifts: Vec<f64> = (0..1000)
            .map(|i| 1000.0 - effective_ct(CacheKey::from(format!("k{i}")).as_key_ref(), 1000.0, Some(60.0), 0.2))
            .collect();
        assert!(shifts.iter().all(|s| (0.0..12.0).contains(s)), "{shifts:?}");
        let (low, high) = (shifts.iter().filter(|s| **s < 6.0).count(), shifts.iter().filter(|s| **s >= 6.0).count());
        assert!(low > 400 && high > 400, "{low} {high}");
    }
}
