//! One freshness decision: whether a stored value is fresh, usable by a plain read, or may
//! stand in for a failed regeneration, with invalidation and expiration jitter applied. Every
//! read path asks here; the pure age rules underneath are [`Ages`].

use super::{Region, trace};
use crate::error::{Error, Result};
use crate::key::KeyRef;
use crate::lock::{Ages, Read};
use crate::value::CachedValue;

use super::jitter;
use super::options::Policy;
use super::tags::Verdict;

/// The freshness rules of one call on one region.
pub(crate) struct Freshness<'r> {
    region: &'r Region,
    pub(crate) ages: Ages,
}

impl Region {
    /// The freshness rules of a read with `expiration` and no fail-safe.
    pub(crate) fn freshness(&self, expiration: Option<f64>) -> Freshness<'_> {
        Freshness { region: self, ages: Ages { expiration, stand_in: None } }
    }

    /// The freshness rules of a read-through under `policy`.
    pub(crate) fn freshness_of(&self, policy: &Policy) -> Freshness<'_> {
        let stand_in = policy.fail_safe.map(|f| f.max_age.as_secs_f64());
        Freshness { region: self, ages: Ages { expiration: policy.expiration, stand_in } }
    }
}

impl Freshness<'_> {
    /// dogpile's `_unexpired_value_fn`, for plain reads: neither expired nor invalidated, by
    /// the coarse clock.
    pub(crate) fn usable<T>(&self, key: KeyRef<'_>, value: &CachedValue<T>) -> bool {
        let inner = &self.region.inner;
        let ct = value.metadata.ct;
        let (aged, now) = (self.jittered(key, ct), inner.clock.now_coarse());
        !self.ages.is_older(aged, now)
            && !inner.invalidator.is_invalidated(ct)
            && inner.tags.verdict(&value.metadata.tags, ct, || now) == Verdict::Clean
    }

    /// A fresh value's payload on the hit path, by the coarse clock; `None` for anything the
    /// full read-through must decide (expired, invalidated, an expiration of zero or less).
    pub(crate) fn fresh_at_hand<T>(&self, key: KeyRef<'_>, value: CachedValue<T>) -> Option<T> {
        let inner = &self.region.inner;
        let ct = value.metadata.ct;
        // An expiration of zero or less expires every value: the precise clock decides.
        if self.ages.expiration.is_some_and(|e| e <= 0.0) || inner.invalidator.is_invalidated(ct) {
            return None;
        }
        if inner.tags.verdict(&value.metadata.tags, ct, || inner.clock.now_coarse()) != Verdict::Clean {
            return None;
        }
        // What `view` gives a value that no invalidation touched.
        self.ages.is_fresh(self.jittered(key, ct), inner.clock.now_coarse()).then_some(value.payload)
    }

    /// Whether a value as the lock sees it is fresh now.
    pub(crate) fn is_fresh<T>(&self, read: &Read<T>) -> bool {
        self.ages.is_fresh(read.ct, self.region.inner.clock.now())
    }

    /// A value as the lock sees it: hard invalidation makes it a miss, soft invalidation an
    /// expired creation time; under expiration jitter the creation time is the one the entry
    /// counts as having.
    pub(crate) fn view<T>(&self, key: KeyRef<'_>, value: Option<CachedValue<T>>) -> Result<Option<Read<T>>> {
        let Some(value) = value else {
            return Ok(None);
        };
        let (region, ct, took) = (self.region, value.metadata.ct, value.metadata.d);
        let invalidator = &region.inner.invalidator;
        let tagged = region.inner.tags.verdict(&value.metadata.tags, ct, || region.inner.clock.now());
        if invalidator.is_hard_invalidated(ct) {
            trace::decision!(region, key, "hard invalidation: value ignored");
            return Ok(None);
        }
        if matches!(tagged, Verdict::Hard | Verdict::Unknown) {
            trace::decision!(region, key, "tag invalidated or retention passed: value ignored");
            return Ok(None);
        }
        if tagged == Verdict::Soft && self.ages.expiration.is_none() {
            // Without an expiration time a stale value could not be told from a fresh one.
            trace::decision!(region, key, "tag soft-invalidated, no expiration time: value ignored");
            return Ok(None);
        }
        if invalidator.is_soft_invalidated(ct) || tagged == Verdict::Soft {
            trace::decision!(region, key, "soft invalidation: value treated as expired");
            let Some(exp) = self.ages.expiration else {
                return Err(soft_invalidation_needs_expiry());
            };
            return Ok(Some(Read { value: value.payload, ct: region.inner.clock.now() - exp - 0.0001, took }));
        }
        Ok(Some(Read { value: value.payload, ct: self.jittered(key, ct), took }))
    }

    /// dogpile's check before a read-through: after a soft invalidation, a call without an
    /// expiration time fails, whether or not its key has a value (it could not tell a value
    /// created before the invalidation from one created after).
    pub(crate) fn check_soft_invalidation(&self) -> Result<()> {
        if self.ages.expiration.is_none() && self.region.inner.invalidator.was_soft_invalidated() {
            return Err(soft_invalidation_needs_expiry());
        }
        Ok(())
    }

    fn jittered(&self, key: KeyRef<'_>, ct: f64) -> f64 {
        jitter::effective_ct(key, ct, self.ages.expiration, self.region.inner.expiration_jitter)
    }
}

fn soft_invalidation_needs_expiry() -> Error {
    Error::config("expiration_time", "soft invalidation needs an expiration time: set one on the region or on the call")
}
