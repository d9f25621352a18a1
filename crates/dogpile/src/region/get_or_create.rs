//! Read-through creation under the dogpile lock: single key, background, multi-key.

use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use std::time::Duration;

use super::fail_open::is_outage;
use super::{CreateOptions, FailOpenState, FailSafe, Operation, Region, jitter, operation, trace};
use crate::backend::{BackendMutex, Locked};
use crate::error::{BackendErrorKind, BoxError, Error, Result};
use crate::key::{AsCacheKey, CacheKey, KeyRef};
use crate::lock::{FailSafeCheck, Lock, LockMutex, Outcome, is_expired};
use crate::mutex::{KeyGuard, Waited, lock_key, try_lock_key, wait_key};

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

    /// What was read ahead at the key, if it was (taken once).
    fn take_read(&self) -> Option<Option<Bytes>> {
        self.read_ahead.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn read_ahead(&self, read: Option<Option<Bytes>>) {
        *self.read_ahead.lock().unwrap_or_else(|p| p.into_inner()) = read;
    }

    /// Leaves `bytes` to be stored with the release.
    fn store_on_release(&self, bytes: Bytes) {
        *self.to_store.lock().unwrap_or_else(|p| p.into_inner()) = Some(bytes);
    }

    /// Takes the in-process mutex, then the backend's, reading the key in the same call.
    async fn try_acquire_reading(&self) -> Result<Option<KeyGuard>> {
        let inner = &self.region.inner;
        let Some(local) = inner.locks.entry(self.backend_key).try_lock() else {
            return Ok(None);
        };
        let taken = inner.through.try_lock_multi(std::slice::from_ref(self.backend_key)).await;
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
        let plain = (!distributed).then(|| try_lock_key(locks, inner.through.get_mutex(key), key));
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
        lock_key(&inner.locks, inner.through.get_mutex(self.backend_key), self.backend_key)
    }

    async fn wait(&self) -> Result<bool> {
        let (region, key, backend_key) = (self.region, self.key, self.backend_key);
        let inner = &region.inner;
        let read = || region.read_bytes(key, backend_key);
        #[cfg(feature = "tracing")]
        let started = std::time::Instant::now();
        let waited = wait_key(&inner.locks, inner.through.get_mutex(backend_key), backend_key, read).await?;
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
        let to_store = self.to_store.lock().unwrap_or_else(|p| p.into_inner()).take();
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

impl Region {
    /// The outcome of releasing the mutex of `key` after the caller got its value: a backend
    /// failure (the server went away; the backend settles its lock by itself) goes to the
    /// error sink, like a failed store, and the caller keeps the value. A lost lock under the
    /// `error` policy is the caller's.
    fn released(&self, key: &CacheKey, released: Result<()>) -> Result<()> {
        if let Err(Error::LockLost { .. }) = &released {
            trace::decision!(self, key, "lock lost before its release");
        }
        match released {
            Err(err @ Error::Backend { .. }) => {
                self.report(&err.with_key(key));
                Ok(())
            }
            other => other.map_err(|e| e.with_key(key)),
        }
    }
}

/// The type of "no background batch" for the multi read-through.
type NoBatchSpawn<T, F> = fn(Vec<(CacheKey, CacheKey, KeyGuard)>, F) -> tokio::sync::oneshot::Receiver<Vec<T>>;

fn has_creator<F>(slot: &Mutex<Option<F>>) -> bool {
    slot.lock().unwrap_or_else(|p| p.into_inner()).is_some()
}

fn creator_error(key: Option<&CacheKey>, source: impl Into<BoxError>) -> Error {
    Error::Creator { key: key.cloned(), source: source.into() }
}

impl Region {
    /// Runs a creator's future, given up on after `timeout` (the future is dropped).
    async fn run_creator<T, Fut, E>(&self, key: Option<&CacheKey>, timeout: Option<Duration>, created: Fut) -> Result<T>
    where
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        self.inner.stats.create();
        let started = std::time::Instant::now();
        let done = match timeout {
            None => created.await.map_err(|e| creator_error(key, e)),
            Some(after) => match tokio::time::timeout(after, created).await {
                Ok(created) => created.map_err(|e| creator_error(key, e)),
                Err(_) => {
                    self.inner.stats.creator_timeout();
                    Err(Error::CreatorTimeout { key: key.cloned(), after })
                }
            },
        };
        self.inner.stats.creation(started.elapsed());
        if let Err(Error::Creator { .. }) = &done {
            self.inner.stats.creator_error();
        }
        done
    }

    /// The fail-safe and creator timeout of a call: its own, or the region's.
    fn resilience<T>(&self, options: &CreateOptions<T>) -> (Option<FailSafe>, Option<Duration>) {
        (
            options.fail_safe.unwrap_or(self.inner.fail_safe),
            options.creator_timeout.unwrap_or(self.inner.creator_timeout),
        )
    }

    /// Notes a failed regeneration of `key` that fail-safe stood in for (its error goes to
    /// the sink): the key is not tried again for the throttle period.
    fn throttle_after_failure(&self, key: &CacheKey, fail_safe: FailSafe) {
        if !fail_safe.throttle.is_zero() {
            let now = self.inner.clock.now();
            self.inner.throttled.throttle(key, now + fail_safe.throttle.as_secs_f64(), now);
        }
    }
}

impl Region {
    /// The value at `key`; if it is missing or expired, `creator` makes it, under the dogpile
    /// lock (see [Concurrent calls on the same key](Region#concurrent-calls-on-the-same-key)).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// let region = dogpile::Region::builder().build()?;
    /// let rows: Vec<u32> = region
    ///     .get_or_create("rows", || async { Ok::<_, std::io::Error>(vec![1, 2, 3]) })
    ///     .await?;
    /// assert_eq!(rows, [1, 2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Creator`] with the creator's error (the lock is released and nothing is
    /// stored); the backend's error on reading; [`Error::LockTimeout`] when a distributed lock
    /// could not be had in time; [`Error::LockLost`] under that lock-lost policy. A failure to
    /// store the created value, or to release the lock afterwards, does not fail the call: it
    /// goes to the region's error sink (a distributed lock whose release did not reach the
    /// server is released by the backend once the server answers again).
    pub async fn get_or_create<T, F, Fut, E>(&self, key: impl AsCacheKey, creator: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        self.get_or_create_with(key, &CreateOptions::new(), creator).await
    }

    /// [`Region::get_or_create`] with per-call options: expiration time and a
    /// `should_cache` predicate.
    ///
    /// # Errors
    ///
    /// As [`Region::get_or_create`].
    pub async fn get_or_create_with<T, F, Fut, E>(
        &self,
        key: impl AsCacheKey,
        options: &CreateOptions<T>,
        creator: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        self.run_lock(key, options, creator, None::<fn(KeyGuard, F)>).await.map(|(value, _)| value)
    }

    /// [`Region::get_or_create_with`], also telling how the value was obtained: fresh from
    /// the cache, stale while another caller regenerates it, created by this call, or served
    /// by [fail-safe](crate::region::FailSafe) after a failed regeneration.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::region::{CreateOptions, Outcome};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// let region = dogpile::Region::builder().build()?;
    /// let options = CreateOptions::new();
    /// let (_, first) = region.get_or_create_with_outcome("k", &options, || async { Ok::<_, std::io::Error>(1) }).await?;
    /// let (_, second) = region.get_or_create_with_outcome("k", &options, || async { Ok::<_, std::io::Error>(2) }).await?;
    /// assert_eq!((first, second), (Outcome::Created, Outcome::Fresh));
    /// assert!(!second.is_stale());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Region::get_or_create`].
    pub async fn get_or_create_with_outcome<T, F, Fut, E>(
        &self,
        key: impl AsCacheKey,
        options: &CreateOptions<T>,
        creator: F,
    ) -> Result<(T, Outcome)>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        self.run_lock(key, options, creator, None::<fn(KeyGuard, F)>).await
    }

    /// [`Region::get_or_create_with`], but an expired value is returned at once while a
    /// spawned task regenerates it (dogpile's `async_creation_runner`). With no value at all,
    /// the caller creates it as usual.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::region::CreateOptions;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// let region = dogpile::Region::builder().build()?;
    /// let n: u64 = region
    ///     .get_or_create_in_background("n", &CreateOptions::new(), || async { Ok::<_, std::io::Error>(1) })
    ///     .await?;
    /// assert_eq!(n, 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Region::get_or_create`]; errors of the background task go to the error sink.
    pub async fn get_or_create_in_background<T, F, Fut, E>(
        &self,
        key: impl AsCacheKey,
        options: &CreateOptions<T>,
        creator: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let key = key.into_cache_key();
        let (region, task_key, task_options) = (self.clone(), key.clone(), options.clone());
        let (done, created) = tokio::sync::oneshot::channel();
        let spawn = move |guard: KeyGuard, creator: F| {
            region.spawn_regeneration(task_key, task_options, guard, creator, Some(done));
        };
        let (value, outcome) = self.run_lock(key, options, creator, Some(spawn)).await?;
        // A soft timeout waits that long for the regeneration before serving the stale value.
        if outcome == Outcome::StaleBackground
            && let Some(soft) = options.soft_timeout.unwrap_or(self.inner.soft_timeout)
            && let Ok(Ok(fresh)) = tokio::time::timeout(soft, created).await
        {
            return Ok(fresh);
        }
        Ok(value)
    }

    /// The read-through of one key, through the backend; under [fail-open](crate::region::FailOpen), through
    /// the in-process stand-in store while the backend is away. A fresh value that the store
    /// has at hand is served first, read through the key as the caller gave it.
    async fn run_lock<T, F, Fut, E, B>(
        &self,
        key: impl AsCacheKey,
        options: &CreateOptions<T>,
        creator: F,
        background: Option<B>,
    ) -> Result<(T, Outcome)>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
        B: FnOnce(KeyGuard, F),
    {
        let key = key.as_key_ref();
        operation::observed!(self, Operation::GetOrCreate, Some(key), 1, async move {
            let fail_open = self.inner.fail_open.as_ref().filter(|_| options.fail_open);
            let breaker_open = fail_open.is_some_and(|f| f.breaker.is_open(self.inner.clock.now_coarse()));
            if !breaker_open && let Some(value) = self.ready_hit::<T>(key, options) {
                if let Some(fail_open) = fail_open {
                    self.backend_back(fail_open);
                }
                self.inner.stats.record(Outcome::Fresh);
                return Ok((value, Outcome::Fresh));
            }
            let key = &key.to_cache_key();
            let slot = Mutex::new(Some(creator));
            let recorded = |served: Result<(T, Outcome)>| {
                let (value, outcome) = served?;
                self.inner.stats.record(outcome);
                if outcome.is_stale() {
                    trace::decision!(self, key, outcome = ?outcome, "stale value served");
                }
                Ok((value, outcome))
            };
            let Some(fail_open) = fail_open else {
                return recorded(self.read_through(key, options, &slot, background).await);
            };
            if !breaker_open {
                match self.read_through(key, options, &slot, background).await {
                    Err(err) if is_outage(&err) && has_creator(&slot) => self.backend_away(fail_open, &err),
                    done => {
                        if done.is_ok() {
                            self.backend_back(fail_open);
                        }
                        return recorded(done);
                    }
                }
            }
            self.inner.stats.fail_open();
            recorded(fail_open.fallback.read_through(key, options, &slot, None::<B>).await)
        })
    }

    /// The hit path: a fresh value that the store has at hand (an in-process store), read
    /// through the key as the caller gave it, so that no owned key is built. `None` sends the
    /// call the full way, which decides and reports: no value, or an expired, invalidated,
    /// undecodable or older-version one; a store that must be awaited; early refresh to weigh;
    /// a soft invalidation without an expiration time.
    fn ready_hit<T: DeserializeOwned>(&self, key: KeyRef<'_>, options: &CreateOptions<T>) -> Option<T> {
        let inner = &self.inner;
        if options.early_refresh && inner.early_refresh.is_some() {
            return None;
        }
        let expiration = options.expiry.resolve(inner.expiration);
        // An expiration of zero or less expires every value: the precise clock decides.
        if self.soft_invalidation_needs(expiration).is_err() || expiration.is_some_and(|e| e <= 0.0) {
            return None;
        }
        let Some(Ok(Some(bytes))) = self.ready_bytes(key) else {
            return None;
        };
        let value = inner.codec.decode::<T>(&bytes, self.decode_time()).ok()?;
        let ct = value.metadata.ct;
        if value.metadata.v != inner.codec.value_version() || inner.invalidator.is_invalidated(ct) {
            return None;
        }
        // What `lock_view` gives a value that no invalidation touched.
        let ct = jitter::effective_ct(key, ct, expiration, inner.expiration_jitter);
        (!is_expired(ct, expiration, inner.clock.now_coarse())).then_some(value.payload)
    }

    async fn read_through<T, F, Fut, E, B>(
        &self,
        key: &CacheKey,
        options: &CreateOptions<T>,
        slot: &Mutex<Option<F>>,
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
        let expiration = options.expiry.resolve(self.inner.expiration);
        self.soft_invalidation_needs(expiration)?;
        // The hit path: one read, no lock machinery. The rest lives in a boxed future, so that
        // a hit neither builds nor moves the state of a creation.
        let first = self.read_for_lock::<T>(key, &backend_key, expiration).await?;
        match first {
            Some(((value, ct, took), _)) if !is_expired(ct, expiration, self.inner.clock.now()) => {
                if options.early_refresh && self.inner.early_refresh.is_some() {
                    let take = || slot.lock().unwrap_or_else(|p| p.into_inner()).take();
                    let spawn_slot = Mutex::new(background);
                    let take_spawn = || spawn_slot.lock().unwrap_or_else(|p| p.into_inner()).take();
                    Box::pin(self.refresh_early(&backend_key, expiration, ct, took, take, take_spawn)).await;
                }
                Ok((value, Outcome::Fresh))
            }
            first => Box::pin(self.read_through_locked(key, &backend_key, options, slot, background, first)).await,
        }
    }

    /// The read-through of a key whose first read found no fresh value: through the key's lock.
    #[allow(clippy::type_complexity)]
    async fn read_through_locked<T, F, Fut, E, B>(
        &self,
        key: &CacheKey,
        backend_key: &CacheKey,
        options: &CreateOptions<T>,
        slot: &Mutex<Option<F>>,
        background: Option<B>,
        first: Option<((T, f64, Option<f64>), f64)>,
    ) -> Result<(T, Outcome)>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
        B: FnOnce(KeyGuard, F),
    {
        if first.is_none() {
            trace::decision!(self, key, "no value present");
        }
        let expiration = options.expiry.resolve(self.inner.expiration);
        let take = || slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        let has_spawn = background.is_some();
        let early = options.early_refresh;
        let spawn_slot = Mutex::new(background);
        let take_spawn = || spawn_slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        let (fail_safe, creator_timeout) = self.resilience(options);
        let this = self;

        let mutex = RegionMutex::new(self, key, backend_key);
        let mutex = &mutex;
        // The lock sees each value with its creation time and creation duration. The re-read
        // under a mutex just taken uses what was read with it.
        let get_value = move || async move {
            match mutex.take_read() {
                Some(bytes) => this.timed_view(key, this.decode(key.as_key_ref(), bytes.as_deref())?, expiration),
                None => this.read_for_lock::<T>(key, backend_key, expiration).await,
            }
        };
        let create = || async {
            let creator = take().ok_or_else(|| creator_error(Some(key), "creator already consumed"))?;
            let started = this.inner.clock.now();
            let value = this.run_creator(Some(key), creator_timeout, creator()).await?;
            let elapsed = this.inner.clock.now() - started;
            trace::decision!(this, key, took_ms = elapsed * 1e3, "value generated");
            let took = this.inner.early_refresh.is_some().then_some(elapsed);
            if fail_safe.is_some() {
                this.inner.throttled.clear(key);
            }
            if options.wants(&value)
                && let Some(bytes) = this.encode_created(key, &value, took)
            {
                mutex.store_on_release(bytes);
            }
            Ok((value, started, took))
        };
        let background = has_spawn.then_some(|guard| {
            if let (Some(spawn), Some(creator)) = (take_spawn(), take()) {
                spawn(guard, creator);
            }
        });
        let suppressed = |err: Error| {
            if let Some(fail_safe) = fail_safe {
                self.report(&err);
                self.throttle_after_failure(key, fail_safe);
            }
        };
        let fail_safe = fail_safe.map(|f| FailSafeCheck {
            max_age: f.max_age.as_secs_f64(),
            throttled: self.inner.throttled.is_throttled(key, self.inner.clock.now()),
            suppressed: &suppressed,
        });
        let lock = Lock { mutex, expiration, clock: &*self.inner.clock, fail_safe };
        let ((value, ct, took), outcome) = lock.enter_after(first, get_value, create, background).await?;
        if outcome == Outcome::Fresh && early {
            self.refresh_early(backend_key, expiration, ct, took, take, take_spawn).await;
        }
        Ok((value, outcome))
    }

    /// Early refresh (XFetch): on a fresh hit of a call that can regenerate in the background,
    /// starts that regeneration with the probability for the time left, if the key's lock is
    /// free. The caller has its value either way.
    async fn refresh_early<F, B>(
        &self,
        backend_key: &CacheKey,
        expiration: Option<f64>,
        ct: f64,
        took: Option<f64>,
        take: impl FnOnce() -> Option<F>,
        take_spawn: impl FnOnce() -> Option<B>,
    ) where
        B: FnOnce(KeyGuard, F),
    {
        let (Some(early), Some(exp), Some(took)) = (&self.inner.early_refresh, expiration, took) else {
            return;
        };
        let Some(spawn) = take_spawn() else {
            return;
        };
        if !early.fires(exp - (self.inner.clock.now() - ct), took) {
            return;
        }
        let inner = &self.inner;
        match try_lock_key(&inner.locks, inner.through.get_mutex(backend_key), backend_key).await {
            Ok(Some(guard)) => {
                if let Some(creator) = take() {
                    inner.stats.early_refresh();
                    spawn(guard, creator);
                }
            }
            // Another caller holds the lock: it is regenerating already.
            Ok(None) => {}
            Err(err) => self.report(&err),
        }
    }

    /// A value as the lock sees it under early refresh: the payload with its creation time and
    /// creation duration, and the creation time.
    #[allow(clippy::type_complexity)]
    fn timed_view<T>(
        &self,
        key: &CacheKey,
        value: Option<crate::CachedValue<T>>,
        expiration: Option<f64>,
    ) -> Result<Option<((T, f64, Option<f64>), f64)>> {
        let took = value.as_ref().and_then(|v| v.metadata.d);
        Ok(self.lock_view(key.as_key_ref(), value, expiration)?.map(|(payload, ct)| ((payload, ct, took), ct)))
    }

    /// Notes a backend outage under fail-open; the error goes to the sink.
    fn backend_away(&self, fail_open: &FailOpenState, err: &Error) {
        self.report(err);
        if fail_open.breaker.failure(self.inner.clock.now()) {
            self.inner.stats.breaker_opened();
        }
    }

    /// Notes a backend success under fail-open: after an outage, the stand-in store goes.
    fn backend_back(&self, fail_open: &FailOpenState) {
        if fail_open.breaker.success() {
            fail_open.store.clear();
        }
    }

    /// Spawns a background regeneration on the current runtime (outside one: an error to the
    /// sink, and the task, with the locks it holds, is dropped).
    fn spawn_task(&self, task: impl Future<Output = ()> + Send + 'static) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(task);
            }
            Err(_) => self.report(&Error::config("runtime", "background regeneration needs a tokio runtime")),
        }
    }

    /// Regenerates `key` in a spawned task that holds `guard`; the value goes to `done` once
    /// stored.
    fn spawn_regeneration<T, F, Fut, E>(
        &self,
        key: CacheKey,
        options: CreateOptions<T>,
        guard: KeyGuard,
        creator: F,
        done: Option<tokio::sync::oneshot::Sender<T>>,
    ) where
        T: Serialize + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let region = self.clone();
        let timeout = self.resilience(&options).1;
        let task = async move {
            let started = region.inner.clock.now();
            let created = region.run_creator(Some(&key), timeout, creator()).await;
            let took = region.inner.early_refresh.is_some().then(|| region.inner.clock.now() - started);
            let mut items = Vec::new();
            let mut fresh = None;
            match (created, region.backend_key(&key)) {
                (Ok(value), Ok(backend_key)) => {
                    if options.wants(&value) {
                        items.extend(region.encode_created(&key, &value, took).map(|b| (backend_key.into_owned(), b)));
                    }
                    fresh = Some(value);
                }
                (Err(err), _) | (_, Err(err)) => region.report(&err),
            }
            // The value and the release in one backend call.
            if let Err(err) = region.store_and_release(items, [(0, guard)], &[&key]).await {
                region.report(&err);
            }
            if let (Some(done), Some(value)) = (done, fresh) {
                let _ = done.send(value);
            }
        };
        self.spawn_task(task);
    }

    #[allow(clippy::type_complexity)]
    async fn read_for_lock<T: DeserializeOwned>(
        &self,
        key: &CacheKey,
        backend_key: &CacheKey,
        expiration: Option<f64>,
    ) -> Result<Option<((T, f64, Option<f64>), f64)>> {
        let bytes = self.read_bytes(key, backend_key).await?;
        let value = self.decode(key.as_key_ref(), bytes.as_deref())?;
        self.timed_view(key, value, expiration)
    }

    async fn read_for_lock_multi<T: DeserializeOwned>(
        &self,
        keys: &[&CacheKey],
        backend_keys: &[CacheKey],
        expiration: Option<f64>,
    ) -> Result<Vec<Option<(T, f64)>>> {
        let found = self.inner.through.get_multi(backend_keys).await?;
        let now = self.decode_time();
        keys.iter()
            .zip(found)
            .map(|(key, bytes)| {
                let key = key.as_key_ref();
                self.lock_view(key, self.decode_at(key, bytes.as_deref(), now)?, expiration)
            })
            .collect()
    }

    /// A created value's bytes as stored, stamped now; an encoding failure goes to the error
    /// sink, not to the caller, who has the value already.
    /// `took`: how long the creator ran, kept under early refresh.
    fn encode_created<T: Serialize>(&self, key: &CacheKey, value: &T, took: Option<f64>) -> Option<Bytes> {
        match self.inner.codec.encode_created_for(key, value, self.inner.clock.now(), took) {
            Ok(bytes) => Some(Bytes::from(bytes)),
            Err(err) => {
                self.report(&err);
                None
            }
        }
    }

    /// The values at `keys`, in order (duplicates included); the missing and expired ones are
    /// made by one call of `creator` under the dogpile lock of each key.
    ///
    /// `creator` receives the keys it must create, sorted, and returns one value per key in
    /// that order. Keys with no value are waited for (in sorted order, so concurrent calls
    /// cannot deadlock) and read again before creating. Expired keys are regenerated by this
    /// call if their lock is free; once one expired key's lock is held elsewhere, this call
    /// serves the remaining expired keys stale, leaving the batch to the caller that holds it.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::CacheKey;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// let region = dogpile::Region::builder().build()?;
    /// region.set("b", &20).await?;
    /// let values: Vec<i32> = region
    ///     .get_or_create_multi(["a", "b", "a"], |missing: Vec<CacheKey>| async move {
    ///         assert_eq!(missing, [CacheKey::from("a")]);
    ///         Ok::<_, std::io::Error>(vec![10])
    ///     })
    ///     .await?;
    /// assert_eq!(values, [10, 20, 10]);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Region::get_or_create`]; also [`Error::Creator`] when the creator returns another
    /// number of values than it was asked for.
    pub async fn get_or_create_multi<T, K, F, Fut, E>(
        &self,
        keys: impl IntoIterator<Item = K>,
        creator: F,
    ) -> Result<Vec<T>>
    where
        T: Serialize + DeserializeOwned + Clone,
        K: AsCacheKey,
        F: FnOnce(Vec<CacheKey>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, E>>,
        E: Into<BoxError>,
    {
        self.get_or_create_multi_with(keys, &CreateOptions::new(), creator).await
    }

    /// [`Region::get_or_create_multi`] with per-call options.
    ///
    /// # Errors
    ///
    /// As [`Region::get_or_create_multi`].
    pub async fn get_or_create_multi_with<T, K, F, Fut, E>(
        &self,
        keys: impl IntoIterator<Item = K>,
        options: &CreateOptions<T>,
        creator: F,
    ) -> Result<Vec<T>>
    where
        T: Serialize + DeserializeOwned + Clone,
        K: AsCacheKey,
        F: FnOnce(Vec<CacheKey>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, E>>,
        E: Into<BoxError>,
    {
        self.multi_run(
            keys.into_iter().map(AsCacheKey::into_cache_key).collect(),
            options,
            creator,
            None::<NoBatchSpawn<T, F>>,
        )
        .await
    }

    /// [`Region::get_or_create_multi_with`], but when every key to create has an expired
    /// value (none is missing), the expired values are returned at once while a spawned task
    /// regenerates the batch under the keys' locks and stores it (dogpile's
    /// `async_creation_runner` for multiple keys). With a
    /// [soft timeout](crate::RegionBuilder::soft_timeout) the call waits that long for the
    /// regenerated batch first. A batch with a missing key is created by the caller as usual.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::CacheKey;
    /// use dogpile::region::CreateOptions;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// let region = dogpile::Region::builder().build()?;
    /// let values: Vec<u32> = region
    ///     .get_or_create_multi_in_background(["a", "b"], &CreateOptions::new(), |keys: Vec<CacheKey>| async move {
    ///         Ok::<_, std::io::Error>(keys.iter().map(|k| k.to_string().len() as u32).collect())
    ///     })
    ///     .await?;
    /// assert_eq!(values, [1, 1]);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Region::get_or_create_multi`]; errors of the background task go to the error sink.
    pub async fn get_or_create_multi_in_background<T, K, F, Fut, E>(
        &self,
        keys: impl IntoIterator<Item = K>,
        options: &CreateOptions<T>,
        creator: F,
    ) -> Result<Vec<T>>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        K: AsCacheKey,
        F: FnOnce(Vec<CacheKey>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<T>, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let (region, task_options) = (self.clone(), options.clone());
        let spawn = move |batch: Vec<(CacheKey, CacheKey, KeyGuard)>, creator: F| {
            region.spawn_batch_regeneration(batch, task_options, creator)
        };
        self.multi_run(keys.into_iter().map(AsCacheKey::into_cache_key).collect(), options, creator, Some(spawn)).await
    }

    /// Regenerates a batch in a spawned task that holds the keys' locks (key, backend key,
    /// guard); the values go to the receiver once stored.
    fn spawn_batch_regeneration<T, F, Fut, E>(
        &self,
        batch: Vec<(CacheKey, CacheKey, KeyGuard)>,
        options: CreateOptions<T>,
        creator: F,
    ) -> tokio::sync::oneshot::Receiver<Vec<T>>
    where
        T: Serialize + Send + Sync + 'static,
        F: FnOnce(Vec<CacheKey>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<T>, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let (done, created) = tokio::sync::oneshot::channel();
        let region = self.clone();
        let task = async move {
            let to_create: Vec<CacheKey> = batch.iter().map(|(key, _, _)| key.clone()).collect();
            let timeout = region.resilience(&options).1;
            let started = region.inner.clock.now();
            let (created, items) = match region.run_creator(None, timeout, creator(to_create)).await {
                Ok(values) if values.len() == batch.len() => {
                    let now = region.inner.clock.now();
                    let took = region.inner.early_refresh.is_some().then_some(now - started);
                    let keys = batch.iter().map(|(key, backend_key, _)| (key, backend_key));
                    let items = region.encode_batch(keys, &values, &options, now, took);
                    (Some(values), items)
                }
                Ok(values) => {
                    let message = format!("creator returned {} values for {} keys", values.len(), batch.len());
                    region.report(&creator_error(None, message));
                    (None, Vec::new())
                }
                Err(err) => {
                    region.report(&err);
                    (None, Vec::new())
                }
            };
            let (keys, guards): (Vec<CacheKey>, Vec<(usize, KeyGuard)>) =
                batch.into_iter().enumerate().map(|(i, (key, _, guard))| (key, (i, guard))).unzip();
            let keys: Vec<&CacheKey> = keys.iter().collect();
            if let Err(err) = region.store_and_release(items, guards, &keys).await {
                region.report(&err);
            }
            if let Some(values) = created {
                let _ = done.send(values);
            }
        };
        self.spawn_task(task);
        created
    }

    /// Tries the locks of the keys at `wanted` (positions in `keys`) without waiting, in one
    /// backend call, reading each key taken under its lock: in-process locks first, then the
    /// backend's for the keys no other task of this process holds.
    async fn try_lock_batch<T: DeserializeOwned>(
        &self,
        keys: &[&CacheKey],
        backend_keys: &[CacheKey],
        wanted: &[usize],
        expiration: Option<f64>,
    ) -> Result<Vec<BatchAttempt<T>>> {
        let locals: Vec<_> = wanted.iter().map(|&i| self.inner.locks.entry(&backend_keys[i]).try_lock()).collect();
        let to_try: Vec<CacheKey> = wanted
            .iter()
            .zip(&locals)
            .filter(|(_, local)| local.is_some())
            .map(|(&i, _)| backend_keys[i].clone())
            .collect();
        let taken = match to_try.is_empty() {
            true => Vec::new(),
            false => self.inner.through.try_lock_multi(&to_try).await?,
        };
        let mut taken = taken.into_iter();
        let mut attempts = Vec::with_capacity(wanted.len());
        for (&i, local) in wanted.iter().zip(locals) {
            let Some(local) = local else {
                attempts.push(BatchAttempt::Busy);
                continue;
            };
            match taken.next().flatten() {
                Some(Locked { mutex, value }) => {
                    let guard = KeyGuard::new(local, mutex);
                    let key = keys[i].as_key_ref();
                    let again = self.lock_view(key, self.decode(key, value.as_deref())?, expiration)?;
                    attempts.push(BatchAttempt::Taken(guard, again));
                }
                None => attempts.push(BatchAttempt::Busy),
            }
        }
        Ok(attempts)
    }

    /// Encodes a created batch for storing (the values `options` lets through); encoding
    /// failures go to the sink.
    fn encode_batch<'k, T: Serialize>(
        &self,
        keys: impl Iterator<Item = (&'k CacheKey, &'k CacheKey)>,
        values: &[T],
        options: &CreateOptions<T>,
        now: f64,
        took: Option<f64>,
    ) -> Vec<(CacheKey, Bytes)> {
        let mut to_store = Vec::new();
        for ((key, backend_key), value) in keys.zip(values) {
            if options.wants(value) {
                match self.inner.codec.encode_created_for(key, value, now, took) {
                    Ok(bytes) => to_store.push((backend_key.clone(), Bytes::from(bytes))),
                    Err(err) => self.report(&err),
                }
            }
        }
        to_store
    }

    async fn multi_run<T, F, Fut, E, S>(
        &self,
        keys: Vec<CacheKey>,
        options: &CreateOptions<T>,
        creator: F,
        spawn: Option<S>,
    ) -> Result<Vec<T>>
    where
        T: Serialize + DeserializeOwned + Clone,
        F: FnOnce(Vec<CacheKey>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, E>>,
        E: Into<BoxError>,
        S: FnOnce(Vec<(CacheKey, CacheKey, KeyGuard)>, F) -> tokio::sync::oneshot::Receiver<Vec<T>>,
    {
        let keys_len = keys.len();
        operation::observed!(self, Operation::GetOrCreateMulti, None, keys_len, async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let slot = Mutex::new(Some(creator));
            let spawn = Mutex::new(spawn);
            let Some(fail_open) = self.inner.fail_open.as_ref().filter(|_| options.fail_open) else {
                return self.multi_read_through(&keys, options, &slot, &spawn).await;
            };

            if !fail_open.breaker.is_open(self.inner.clock.now()) {
                match self.multi_read_through(&keys, options, &slot, &spawn).await {
                    Err(err) if is_outage(&err) && has_creator(&slot) => self.backend_away(fail_open, &err),
                    done => {
                        if done.is_ok() {
                            self.backend_back(fail_open);
                        }
                        return done;
                    }
                }
            }
            self.inner.stats.fail_open();
            fail_open.fallback.multi_read_through(&keys, options, &slot, &spawn).await
        })
    }

    /// Stores `items` and releases the locks of `guards` (positions in `keys`, guards) in one
    /// backend call (one round trip on Redis). A failed store goes to the sink; the first
    /// failed release is returned as [`Region::released`] decides. If this future is
    /// dropped first, the backend's locks are released in the background.
    async fn store_and_release(
        &self,
        items: Vec<(CacheKey, Bytes)>,
        guards: impl IntoIterator<Item = (usize, KeyGuard)>,
        keys: &[&CacheKey],
    ) -> Result<()> {
        let mut remotes = Vec::new();
        let mut owners = Vec::new();
        let mut locals = Vec::new();
        for (i, guard) in guards {
            let (remote, local) = guard.into_parts();
            locals.push(local);
            if let Some(remote) = remote {
                remotes.push(remote);
                owners.push(keys[i]);
            }
        }
        if items.is_empty() && remotes.is_empty() {
            return Ok(());
        }
        let pending = ReleaseOnDrop(remotes.clone());
        let (stored, released) = self.inner.through.set_multi_and_release(&items, remotes).await;
        pending.disarm();
        if let Err(err) = stored {
            // One key: the error names it.
            self.report(&match keys {
                [only] => err.with_key(*only),
                _ => err,
            });
        }
        let mut outcome = Ok(());
        for (key, released) in owners.into_iter().zip(released) {
            outcome = outcome.and(self.released(key, released));
        }
        drop(locals);
        outcome
    }

    async fn multi_read_through<T, F, Fut, E, S>(
        &self,
        keys: &[CacheKey],
        options: &CreateOptions<T>,
        slot: &Mutex<Option<F>>,
        spawn: &Mutex<Option<S>>,
    ) -> Result<Vec<T>>
    where
        T: Serialize + DeserializeOwned + Clone,
        F: FnOnce(Vec<CacheKey>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, E>>,
        E: Into<BoxError>,
        S: FnOnce(Vec<(CacheKey, CacheKey, KeyGuard)>, F) -> tokio::sync::oneshot::Receiver<Vec<T>>,
    {
        // Sorted, unique keys: locks are always taken in this order, so two multi calls
        // cannot deadlock each other.
        let mut unique: Vec<&CacheKey> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let backend_keys: Vec<CacheKey> =
            unique.iter().map(|k| self.backend_key(k).map(std::borrow::Cow::into_owned)).collect::<Result<_>>()?;
        let expiration = options.expiry.resolve(self.inner.expiration);
        self.soft_invalidation_needs(expiration)?;
        let (fail_safe, creator_timeout) = self.resilience(options);
        let mut values = self.read_for_lock_multi::<T>(&unique, &backend_keys, expiration).await?;

        let inner = &self.inner;
        // Whether fail-safe may serve the value at `i` (created at `ct`) for a failed creation.
        let may_stand_in =
            |ct: f64| fail_safe.is_some_and(|f| ct > 0.0 && inner.clock.now() - ct <= f.max_age.as_secs_f64());
        let mut guards: Vec<(usize, KeyGuard)> = Vec::new();
        let mut contended: Vec<usize> = Vec::new();
        // Once one expired key is being regenerated elsewhere, the other expired keys are
        // served stale too: the concurrent caller that holds the first lock is regenerating
        // the batch, so identical batches call the creator once.
        let mut defer_stale = false;
        // The keys still to lock, in sorted order, after the fresh ones and those fail-safe serves.
        let mut wanted: Vec<usize> = Vec::new();
        for (i, key) in unique.iter().enumerate() {
            match &values[i] {
                Some((_, ct)) if !is_expired(*ct, expiration, inner.clock.now()) => inner.stats.hit(),
                Some((_, ct)) if may_stand_in(*ct) && inner.throttled.is_throttled(key, inner.clock.now()) => {
                    inner.stats.fail_safe()
                }
                _ => {
                    if values[i].is_none() {
                        trace::decision!(self, key, "no value present");
                    }
                    wanted.push(i);
                }
            }
        }
        // Keys locked and read again in one round trip: no second read for them below.
        let mut read_under_lock = vec![false; unique.len()];
        // Locks taken but not needed (the value turned fresh, or is served stale): released
        // with the created values.
        let mut unneeded: Vec<(usize, KeyGuard)> = Vec::new();
        // Where the keys locked one by one begin in `wanted` (all of them without a batch).
        let mut next = 0;
        if inner.capabilities.distributed_lock && !wanted.is_empty() {
            let batch = self.try_lock_batch::<T>(&unique, &backend_keys, &wanted, expiration).await?;
            next = wanted.len();
            // A missing key held elsewhere is waited for, in sorted order: the locks taken
            // after it are given back first, so that two callers never wait for each other,
            // and the keys from there on are locked one by one.
            let mut give_back: Vec<(usize, KeyGuard)> = Vec::new();
            for (at, (i, attempt)) in wanted.iter().copied().zip(batch).enumerate() {
                if at > next {
                    if let BatchAttempt::Taken(guard, _) = attempt {
                        give_back.push((i, guard));
                    }
                    continue;
                }
                match attempt {
                    BatchAttempt::Taken(guard, again) => {
                        read_under_lock[i] = true;
                        let fresh =
                            again.as_ref().is_some_and(|(_, ct)| !is_expired(*ct, expiration, inner.clock.now()));
                        if again.is_some() {
                            values[i] = again;
                        }
                        if fresh {
                            inner.stats.hit();
                            unneeded.push((i, guard));
                        } else if values[i].is_some() && defer_stale {
                            inner.stats.stale();
                            trace::decision!(self, unique[i], "stale value served");
                            unneeded.push((i, guard));
                        } else {
                            guards.push((i, guard));
                        }
                    }
                    BatchAttempt::Busy if values[i].is_some() => {
                        defer_stale = true;
                        inner.stats.stale();
                        trace::decision!(self, unique[i], "lock held elsewhere: stale value served");
                    }
                    BatchAttempt::Busy => next = at,
                }
            }
            self.store_and_release(Vec::new(), give_back, &unique).await?;
        }
        for &i in &wanted[next..] {
            let backend_key = &backend_keys[i];
            match &values[i] {
                Some(_) if defer_stale => {
                    inner.stats.stale();
                    trace::decision!(self, unique[i], "stale value served");
                }
                Some(_) => match try_lock_key(&inner.locks, inner.through.get_mutex(backend_key), backend_key).await? {
                    Some(guard) => guards.push((i, guard)),
                    None => {
                        defer_stale = true;
                        inner.stats.stale();
                        trace::decision!(self, unique[i], "lock held elsewhere: stale value served");
                    }
                },
                None => {
                    let guard =
                        match try_lock_key(&inner.locks, inner.through.get_mutex(backend_key), backend_key).await? {
                            Some(guard) => guard,
                            None => {
                                contended.push(i);
                                trace::decision!(self, unique[i], "lock held elsewhere: waiting");
                                lock_key(&inner.locks, inner.through.get_mutex(backend_key), backend_key).await?
                            }
                        };
                    guards.push((i, guard));
                }
            }
        }

        // Read the keys locked one by one again under their locks: whoever held a lock before
        // us has most likely just stored the value (for a missing key), or may have
        // regenerated it between our first read and our lock (for an expired one).
        let locked: Vec<usize> = guards.iter().map(|(i, _)| *i).filter(|&i| !read_under_lock[i]).collect();
        if !locked.is_empty() {
            let again_keys: Vec<&CacheKey> = locked.iter().map(|&i| unique[i]).collect();
            let again_backend: Vec<CacheKey> = locked.iter().map(|&i| backend_keys[i].clone()).collect();
            let again = self.read_for_lock_multi::<T>(&again_keys, &again_backend, expiration).await?;
            for (&i, value) in locked.iter().zip(again) {
                let fresh = value.as_ref().is_some_and(|(_, ct)| !is_expired(*ct, expiration, inner.clock.now()));
                if value.is_some() {
                    values[i] = value;
                }
                if fresh {
                    if contended.contains(&i) {
                        inner.stats.wait()
                    } else {
                        inner.stats.hit()
                    }
                    if let Some(pos) = guards.iter().position(|(g, _)| *g == i) {
                        unneeded.push(guards.remove(pos));
                    }
                }
            }
        }

        // The background form: every key to create has an expired value to serve meanwhile.
        let background = if !guards.is_empty() && guards.iter().all(|(i, _)| values[*i].is_some()) {
            spawn.lock().unwrap_or_else(|p| p.into_inner()).take()
        } else {
            None
        };
        let creator = match background {
            Some(_) => slot.lock().unwrap_or_else(|p| p.into_inner()).take(),
            None => None,
        };
        if let (Some(spawn), Some(creator)) = (background, creator) {
            self.store_and_release(Vec::new(), unneeded, &unique).await?;
            let positions: Vec<usize> = guards.iter().map(|(i, _)| *i).collect();
            let batch =
                guards.into_iter().map(|(i, guard)| (unique[i].clone(), backend_keys[i].clone(), guard)).collect();
            let created = spawn(batch, creator);
            let soft = options.soft_timeout.unwrap_or(inner.soft_timeout);
            let fresh = match soft {
                Some(soft) => tokio::time::timeout(soft, created).await.ok().and_then(Result::ok),
                None => None,
            };
            match fresh {
                Some(fresh) if fresh.len() == positions.len() => {
                    let now = inner.clock.now();
                    for (i, value) in positions.into_iter().zip(fresh) {
                        inner.stats.miss();
                        values[i] = Some((value, now));
                    }
                }
                _ => positions.iter().for_each(|_| inner.stats.stale()),
            }
            return collect_values(keys, &unique, &values);
        }

        if guards.is_empty() {
            self.store_and_release(Vec::new(), unneeded, &unique).await?;
            return collect_values(keys, &unique, &values);
        }
        let to_create: Vec<CacheKey> = guards.iter().map(|(i, _)| unique[*i].clone()).collect();
        let wanted = to_create.len();
        let creator = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        let creator = match creator {
            Some(creator) => creator,
            None => {
                let _ = self.store_and_release(Vec::new(), guards.into_iter().chain(unneeded), &unique).await;
                return Err(creator_error(None, "creator already consumed"));
            }
        };
        let locked_at: Vec<usize> = guards.iter().map(|(i, _)| *i).collect();
        let started = inner.clock.now();
        let created = match self.run_creator(None, creator_timeout, creator(to_create)).await {
            Ok(created) if created.len() == wanted => created,
            failed => {
                // Nothing is stored; the locks are given back before the caller hears of it.
                let _ = self.store_and_release(Vec::new(), guards.into_iter().chain(unneeded), &unique).await;
                let err = match failed {
                    Ok(created) => {
                        return Err(creator_error(
                            None,
                            format!("creator returned {} values for {wanted} keys", created.len()),
                        ));
                    }
                    Err(err) => err,
                };
                // Fail-safe: when every key to create has a value young enough, the batch is
                // served from those; otherwise the caller gets the error.
                return match fail_safe {
                    Some(f)
                        if locked_at.iter().all(|&i| values[i].as_ref().is_some_and(|(_, ct)| may_stand_in(*ct))) =>
                    {
                        self.report(&err);
                        for &i in &locked_at {
                            inner.stats.fail_safe();
                            self.throttle_after_failure(unique[i], f);
                        }
                        collect_values(keys, &unique, &values)
                    }
                    _ => Err(err),
                };
            }
        };
        let now = inner.clock.now();
        trace::batch_decision!(self, wanted, took_ms = (now - started) * 1e3, "values generated");
        let took = inner.early_refresh.is_some().then_some(now - started);
        let stored = guards.iter().map(|(i, _)| (unique[*i], &backend_keys[*i]));
        let items = self.encode_batch(stored, &created, options, now, took);
        for ((i, _), value) in guards.iter().zip(created) {
            inner.stats.miss();
            values[*i] = Some((value, now));
        }
        // The values and every lock in one backend call.
        self.store_and_release(items, guards.into_iter().chain(unneeded), &unique).await?;
        collect_values(keys, &unique, &values)
    }
}

/// What one key's attempt in a batch of lock attempts found.
enum BatchAttempt<T> {
    /// The lock is ours, with the value read under it.
    Taken(KeyGuard, Option<(T, f64)>),
    /// Another task of this process, or another process, holds it.
    Busy,
}

/// Backend mutexes to release in the background if the call releasing them is dropped.
struct ReleaseOnDrop(Vec<Arc<dyn BackendMutex>>);

impl ReleaseOnDrop {
    fn disarm(mut self) {
        self.0.clear();
    }
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let mutexes = std::mem::take(&mut self.0);
            handle.spawn(async move {
                for mutex in mutexes {
                    let _ = mutex.release().await;
                }
            });
        }
    }
}

/// The value of each of `keys` (duplicates included) from the values of the sorted, unique
/// keys.
fn collect_values<T: Clone>(keys: &[CacheKey], unique: &[&CacheKey], values: &[Option<(T, f64)>]) -> Result<Vec<T>> {
    keys.iter()
        .map(|key| {
            unique.binary_search(&key).ok().and_then(|i| values[i].as_ref()).map(|(value, _)| value.clone()).ok_or_else(
                || Error::backend(BackendErrorKind::Other, "value vanished during get_or_create_multi").with_key(key),
            )
        })
        .collect()
}
