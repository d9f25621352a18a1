//! The single-key read-through: the region's mutex for one key as the lock algorithm sees it,
//! and the run of [`Lock`] over it, with early refresh on a fresh hit.

use std::future::Future;
use std::sync::Mutex;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::creation::creator_error;
use super::freshness::Freshness;
use super::options::Policy;
use super::stats::Count;
use super::{CreateOptions, Region, trace};
use crate::backend::Locked;
use crate::error::{BoxError, Error, Result};
use crate::key::CacheKey;
use crate::lock::{FailSafeCheck, Lock, LockMutex, Outcome, Read};
use crate::mutex::{KeyGuard, Waited, lock_key, try_lock_key, wait_key};

/// Takes a value out of a slot shared by the closures of one call (taken once).
pub(crate) fn take<F>(slot: &Mutex<Option<F>>) -> Option<F> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// The region's mutex for one key, as the lock algorithm sees it.
///
/// With a distributed lock, taking the mutex also reads the key in the same backend call (one
/// round trip on Redis), and releasing it also stores what the creation left to store: the
/// lock algorithm's re-read under the mutex and its store before the release cost no round
/// trip of their own.
struct RegionMutex<'a> {
    region: &'a Region,
    /// The key as the caller gave it, for errors.
    key: &'a CacheKey,
    /// The key as the backend sees it.
    backend_key: &'a CacheKey,
    /// What is at the key, read with the mutex by the `try_acquire` that took it or by the
    /// wait that saw it free (or left by the holder it waited for), for the read that follows
    /// (`None` when nothing was read).
    read_ahead: Mutex<Option<Option<Bytes>>>,
    /// The created value's bytes, stored with the release.
    to_store: Mutex<Option<Bytes>>,
}

impl<'a> RegionMutex<'a> {
    fn new(region: &'a Region, key: &'a CacheKey, backend_key: &'a CacheKey) -> Self {
        RegionMutex { region, key, backend_key, read_ahead: Mutex::new(None), to_store: Mutex::new(None) }
    }

    fn read_ahead(&self, read: Option<Option<Bytes>>) {
        *self.read_ahead.lock().unwrap_or_else(|p| p.into_inner()) = read;
    }

    /// Leaves `bytes` to be stored with the release.
    fn store_on_release(&self, bytes: Bytes) {
        *self.to_store.lock().unwrap_or_else(|p| p.into_inner()) = Some(bytes);
    }

    /// The key's value under `freshness`: what was read ahead, else a read.
    async fn read<T: DeserializeOwned>(&self, freshness: &Freshness<'_>) -> Result<Option<Read<T>>> {
        let (region, key) = (self.region, self.key.as_key_ref());
        let bytes = match take(&self.read_ahead) {
            Some(bytes) => bytes,
            None => region.read_bytes(self.key, self.backend_key).await?,
        };
        let value = region.decode(key, bytes.as_deref())?;
        region.learn_tags(std::slice::from_ref(&value)).await?;
        freshness.view(key, value)
    }

    /// Takes the in-process mutex, then the backend's, reading the key in the same call.
    async fn try_acquire_reading(&self) -> Result<Option<KeyGuard>> {
        let inner = &self.region.inner;
        let Some(local) = inner.locks.entry(self.backend_key).try_lock() else {
            return Ok(None);
        };
        let taken = inner.spanned.try_lock_multi(std::slice::from_ref(self.backend_key)).await;
        let taken = taken.map_err(|e| e.with_key(self.key))?;
        match taken.into_iter().next().flatten() {
            Some(Locked { mutex, value }) => {
                self.read_ahead(Some(value));
                Ok(Some(KeyGuard::new(local, mutex)))
            }
            None => Ok(None),
        }
    }
}

impl LockMutex for RegionMutex<'_> {
    type Guard = KeyGuard;

    fn try_acquire(&self) -> impl Future<Output = Result<Option<KeyGuard>>> + Send {
        let inner = &self.region.inner;
        let distributed = inner.capabilities.distributed_lock;
        let (locks, key) = (&inner.locks, self.backend_key);
        let plain = (!distributed).then(|| try_lock_key(locks, inner.spanned.get_mutex(key), key));
        async move {
            let taken = match plain {
                Some(plain) => plain.await,
                None => self.try_acquire_reading().await,
            }?;
            trace::decision!(
                self.region,
                self.key,
                "{}",
                if taken.is_some() { "lock taken" } else { "lock held elsewhere" }
            );
            Ok(taken)
        }
    }

    fn acquire(&self) -> impl Future<Output = Result<KeyGuard>> + Send {
        let inner = &self.region.inner;
        lock_key(&inner.locks, inner.spanned.get_mutex(self.backend_key), self.backend_key)
    }

    async fn wait(&self) -> Result<bool> {
        let (region, key, backend_key) = (self.region, self.key, self.backend_key);
        let inner = &region.inner;
        let read = || region.read_bytes(key, backend_key);
        #[cfg(feature = "tracing")]
        let started = std::time::Instant::now();
        let waited = wait_key(&inner.locks, inner.spanned.get_mutex(backend_key), backend_key, read).await?;
        trace::decision!(
            region,
            key,
            waited_ms = started.elapsed().as_secs_f64() * 1e3,
            handed_over = matches!(&waited, Waited::Free(Some(_))),
            "lock waited for"
        );
        match waited {
            Waited::Free(read) => {
                self.read_ahead(read);
                Ok(true)
            }
            Waited::GaveUp => Ok(false),
        }
    }

    fn release(&self, guard: KeyGuard) -> impl Future<Output = Result<()>> + Send {
        let (region, key, backend_key) = (self.region, self.key, self.backend_key);
        let to_store = take(&self.to_store);
        async move {
            match to_store {
                Some(bytes) => {
                    guard.leave(bytes.clone());
                    region.store_and_release(vec![(backend_key.clone(), bytes)], [(0, guard)], &[key]).await
                }
                None => region.released(key, guard.release().await),
            }
        }
    }
}

/// One single-key read-through call: the key both ways, the options and their policy, and
/// the creator and the background spawn while not yet used.
pub(crate) struct Call<'c, T, F, B> {
    pub(crate) key: &'c CacheKey,
    pub(crate) backend_key: &'c CacheKey,
    pub(crate) options: &'c CreateOptions<T>,
    pub(crate) policy: Policy,
    pub(crate) creator: &'c Mutex<Option<F>>,
    pub(crate) spawn: Mutex<Option<B>>,
}

impl Region {
    /// The read-through of one key through the backend: a fresh first read is served (and may
    /// start an early refresh); anything else goes through the key's lock.
    pub(crate) async fn read_through<T, F, Fut, E, B>(
        &self,
        key: &CacheKey,
        options: &CreateOptions<T>,
        creator: &Mutex<Option<F>>,
        background: Option<B>,
    ) -> Result<(T, Outcome)>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
        B: FnOnce(KeyGuard, F),
    {
        let backend_key = self.backend_key(key)?;
        let policy = Policy::of(&self.inner, options);
        let call = Call { key, backend_key: &backend_key, options, policy, creator, spawn: Mutex::new(background) };
        // Borrowed from the call, not from a policy of its own: the future holds one copy.
        let freshness = self.freshness_of(&call.policy);
        freshness.check_soft_invalidation()?;
        // The hit path: one read, no lock machinery. The rest lives in a boxed future, so that
        // a hit neither builds nor moves the state of a creation.
        match self.read_first::<T>(key, &backend_key, &freshness).await? {
            Some(read) if freshness.is_fresh(&read) => {
                if call.policy.early_refresh {
                    Box::pin(self.refresh_early(&call, &read)).await;
                }
                Ok((read.value, Outcome::Fresh))
            }
            first => Box::pin(self.read_through_locked(&call, &freshness, first)).await,
        }
    }

    /// The first read of a read-through, as the lock sees it.
    async fn read_first<T: DeserializeOwned>(
        &self,
        key: &CacheKey,
        backend_key: &CacheKey,
        freshness: &Freshness<'_>,
    ) -> Result<Option<Read<T>>> {
        // The bytes go once decoded: they are not carried across the wait for tags.
        let value = {
            let bytes = self.read_bytes(key, backend_key).await?;
            if bytes.is_none() {
                trace::decision!(self, key, "no value present");
            }
            self.decode(key.as_key_ref(), bytes.as_deref())?
        };
        self.learn_tags(std::slice::from_ref(&value)).await?;
        freshness.view(key.as_key_ref(), value)
    }

    /// The read-through of a key whose first read found no fresh value: through the key's lock.
    async fn read_through_locked<T, F, Fut, E, B>(
        &self,
        call: &Call<'_, T, F, B>,
        freshness: &Freshness<'_>,
        first: Option<Read<T>>,
    ) -> Result<(T, Outcome)>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
        B: FnOnce(KeyGuard, F),
    {
        let (key, policy) = (call.key, &call.policy);
        let mutex = &RegionMutex::new(self, key, call.backend_key);
        let get_value = || mutex.read::<T>(freshness);
        let create = || async {
            let creator = take(call.creator).ok_or_else(|| creator_error(Some(key), "creator already consumed"))?;
            let started = self.inner.clock.now();
            let value = self.run_creator(Some(key), policy.creator_timeout, creator()).await?;
            let elapsed = self.inner.clock.now() - started;
            trace::decision!(self, key, took_ms = elapsed * 1e3, "value generated");
            let took = self.inner.early_refresh.is_some().then_some(elapsed);
            if policy.fail_safe.is_some() {
                self.inner.throttled.clear(key);
            }
            if call.options.wants(&value)
                && let Some(bytes) = self.encode_created(key, &value, took, call.options)
            {
                mutex.store_on_release(bytes);
            }
            Ok(Read { value, ct: started, took })
        };
        let has_spawn = call.spawn.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        let background = has_spawn.then_some(|guard| {
            if let (Some(spawn), Some(creator)) = (take(&call.spawn), take(call.creator)) {
                spawn(guard, creator);
            }
        });
        let suppressed = |err: Error| {
            if let Some(fail_safe) = policy.fail_safe {
                self.report(&err);
                self.throttle_after_failure(key, fail_safe);
            }
        };
        let fail_safe = policy.fail_safe.map(|_| FailSafeCheck {
            throttled: self.inner.throttled.is_throttled(key, self.inner.clock.now()),
            suppressed: &suppressed,
        });
        let lock = Lock { mutex, ages: freshness.ages, clock: &*self.inner.clock, fail_safe };
        let (read, outcome) = lock.enter_after(first, get_value, create, background).await?;
        if outcome == Outcome::Fresh && policy.early_refresh {
            self.refresh_early(call, &read).await;
        }
        Ok((read.value, outcome))
    }

    /// Early refresh (XFetch): on a fresh hit of a call that can regenerate in the background,
    /// starts that regeneration with the probability for the time left, if the key's lock is
    /// free. The caller has its value either way.
    async fn refresh_early<T, F, B>(&self, call: &Call<'_, T, F, B>, read: &Read<T>)
    where
        B: FnOnce(KeyGuard, F),
    {
        let (Some(early), Some(exp), Some(took)) = (&self.inner.early_refresh, call.policy.expiration, read.took)
        else {
            return;
        };
        let Some(spawn) = take(&call.spawn) else {
            return;
        };
        if !early.fires(exp - (self.inner.clock.now() - read.ct), took) {
            return;
        }
        let (inner, backend_key) = (&self.inner, call.backend_key);
        match try_lock_key(&inner.locks, inner.spanned.get_mutex(backend_key), backend_key).await {
            Ok(Some(guard)) => {
                if let Some(creator) = take(call.creator) {
                    inner.stats.bump(Count::EarlyRefresh);
                    spawn(guard, creator);
                }
            }
            // Another caller holds the lock: it is regenerating already.
            Ok(None) => {}
            Err(err) => self.report(&err),
        }
    }
}
