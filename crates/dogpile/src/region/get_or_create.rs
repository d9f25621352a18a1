//! The single-key read-through's public face: `get_or_create` and its forms, the hit path
//! that answers from a store at hand, and fail-open around the read-through.

use std::future::Future;
use std::sync::Mutex;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::fail_open::{has_creator, is_outage};
use super::stats::Count;
use super::{CreateOptions, Operation, Region, operation, trace};
use crate::error::{BoxError, Result};
use crate::key::{AsCacheKey, KeyRef};
use crate::lock::Outcome;
use crate::mutex::KeyGuard;

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
    /// [`Error::Creator`](crate::Error::Creator) with the creator's error (the lock is released and nothing is
    /// stored); the backend's error on reading; [`Error::LockTimeout`](crate::Error::LockTimeout) when a distributed lock
    /// could not be had in time; [`Error::LockLost`](crate::Error::LockLost) under that lock-lost policy. A failure to
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
        self.get_or_create_with(key, &CreateOptions::DEFAULT, creator).await
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
            let ticket = fail_open.map_or(0, |f| f.breaker.ticket());
            if !breaker_open && let Some(value) = self.ready_hit::<T>(key, options) {
                if let Some(fail_open) = fail_open {
                    self.backend_back(fail_open, ticket);
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
                            self.backend_back(fail_open, ticket);
                        }
                        return recorded(done);
                    }
                }
            }
            self.inner.stats.bump(Count::FailOpen);
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
        let freshness = self.freshness(options.expiry.resolve(inner.expiration));
        if freshness.check_soft_invalidation().is_err() {
            return None;
        }
        let Some(Ok(Some(bytes))) = self.ready_bytes(key) else {
            return None;
        };
        let value = inner.codec.decode::<T>(&bytes, self.decode_time()).ok()?;
        if value.metadata.v != inner.codec.value_version() {
            return None;
        }
        freshness.fresh_at_hand(key, value)
    }
}
