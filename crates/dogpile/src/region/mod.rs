//! The cache region: the front end that composes a backend, a codec and the dogpile lock.

mod background;
mod builder;
mod cached_fn;
mod creation;
mod early_refresh;
mod fail_open;
mod fail_safe;
mod fn_key;
mod freshness;
mod get_or_create;
mod invalidation;
mod jitter;
mod multi;
mod operation;
mod options;
mod read_through;
mod release;
mod stats;
mod tags;
mod trace;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::lock::Outcome;
pub use builder::RegionBuilder;
pub use cached_fn::{CachedDictFn, CachedFn, CachedMultiFn, FunctionKey, FunctionKeyGenerator};
pub use early_refresh::EarlyRefresh;
pub use fail_open::FailOpen;
pub(crate) use fail_open::FailOpenState;
pub(crate) use fail_safe::Throttled;
pub use fail_safe::{DEFAULT_FAIL_SAFE_THROTTLE, FailSafe};
pub use fn_key::{KeyArgs, KeyPart};
pub use invalidation::{DefaultInvalidation, InvalidationStrategy};
pub(crate) use operation::Operation;
pub use options::{CreateOptions, GetOptions, SetOptions, ShouldCache};
use stats::Count;
pub use stats::RegionStats;
pub use trace::KeyLogging;

use crate::backend::{Capabilities, DynBackend};
use crate::clock::Clock;
use crate::codec::{Codec, DecodeErrorPolicy, ForeignVersion};
use crate::error::{Error, Result};
use crate::key::{AsCacheKey, CacheKey, KeyMangler, KeyRef};
use crate::mutex::LocalMutexMap;
use crate::value::CachedValue;

/// Receives errors that no caller sees: background regeneration, a store after creation,
/// releasing a lock.
pub type ErrorSink = Arc<dyn Fn(&Error) + Send + Sync>;

/// A cache region: typed reads and writes over a byte backend, and read-through creation
/// under the dogpile lock.
///
/// A region is cheap to clone (an `Arc` inside); clones share everything. Build one with
/// [`Region::builder`]; without a backend it uses an unbounded [`MemoryBackend`].
///
/// [`MemoryBackend`]: crate::backend::MemoryBackend
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use dogpile::Region;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> dogpile::Result<()> {
/// let region = Region::builder().expiration_time(Duration::from_secs(60)).build()?;
///
/// let user: String = region
///     .get_or_create("user:42", || async { Ok::<_, std::io::Error>("Ada".to_string()) })
///     .await?;
/// assert_eq!(user, "Ada");
/// assert_eq!(region.get::<String>("user:42").await?, Some("Ada".to_string()));
/// # Ok(())
/// # }
/// ```
///
/// # Concurrent calls on the same key
///
/// At most one caller per key runs the creator at a time (one per process with the in-process
/// mutex; one across processes when the backend offers a distributed mutex). Callers that find
/// no value wait for it and then read what it stored. Callers that find an expired value get
/// that value at once while it is being regenerated. If the creator fails, only its own caller
/// gets the error; the mutex is released and the next waiter tries the creator itself.
#[derive(Clone)]
pub struct Region {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    name: Option<String>,
    /// The backend as the region calls it: the outermost layer, if there are layers.
    backend: Arc<dyn DynBackend>,
    /// The backend underneath the layers.
    actual: Arc<dyn DynBackend>,
    /// What the region calls: the backend, in spans with the `tracing` feature.
    spanned: Arc<dyn DynBackend>,
    capabilities: Capabilities,
    codec: Codec,
    expiration: Option<f64>,
    mangler: Option<KeyMangler>,
    clock: Arc<dyn Clock>,
    invalidator: Arc<dyn InvalidationStrategy>,
    locks: Arc<LocalMutexMap>,
    decode_errors: DecodeErrorPolicy,
    error_sink: Option<ErrorSink>,
    stats: Arc<stats::Counters>,
    fail_safe: Option<FailSafe>,
    creator_timeout: Option<std::time::Duration>,
    throttled: Throttled,
    /// The fraction of the expiration time by which entries expire early (0: none).
    expiration_jitter: f64,
    fail_open: Option<FailOpenState>,
    early_refresh: Option<Arc<EarlyRefresh>>,
    soft_timeout: Option<std::time::Duration>,
    key_logging: KeyLogging,
    function_keys: FunctionKeys,
    tags: Arc<tags::Tags>,
}

/// The region's key generators for cached functions; none: dogpile's.
#[derive(Clone, Default)]
pub(crate) struct FunctionKeys {
    single: Option<FunctionKeyGenerator>,
    multi: Option<FunctionKeyGenerator>,
}

impl Region {
    /// A builder for a region.
    pub fn builder() -> RegionBuilder {
        RegionBuilder::new()
    }

    /// The region's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// The backend as the region calls it: with [layers](RegionBuilder::wrap), the outermost
    /// one (dogpile's `region.backend`).
    pub fn backend(&self) -> &Arc<dyn DynBackend> {
        &self.inner.backend
    }

    /// The backend underneath any [layers](RegionBuilder::wrap) (dogpile's
    /// `region.actual_backend`); without layers, the same as [`Region::backend`].
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::backend::NullBackend;
    ///
    /// let region = dogpile::Region::builder().backend(NullBackend).build()?;
    /// assert_eq!(region.actual_backend().name(), "null");
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn actual_backend(&self) -> &Arc<dyn DynBackend> {
        &self.inner.actual
    }

    /// The key mangler in use: the one given to the builder, else the backend's own
    /// ([`Backend::key_mangler`](crate::backend::Backend::key_mangler)), else none.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::{CacheKey, KeyMangler, Region};
    ///
    /// let region = Region::builder().key_mangler(KeyMangler::from_fn(|k| format!("app:{k}"))).build()?;
    /// let mangler = region.key_mangler().expect("a mangler was given");
    /// assert_eq!(mangler.mangle(&CacheKey::from("k")).to_string(), "app:k");
    /// assert!(Region::builder().build()?.key_mangler().is_none());
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn key_mangler(&self) -> Option<&KeyMangler> {
        self.inner.mangler.as_ref()
    }

    /// The codec.
    pub fn codec(&self) -> &Codec {
        &self.inner.codec
    }

    /// The default expiration time in seconds, if any.
    pub fn expiration_time(&self) -> Option<f64> {
        self.inner.expiration
    }

    /// The counters since the region was built.
    pub fn stats(&self) -> RegionStats {
        self.inner.stats.snapshot()
    }

    /// How many keys have their in-process lock held or awaited now: the size of the region's
    /// lock table, which is empty whenever no call is making a value. A number that grows while
    /// the load does not is a leak.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// use dogpile::Region;
    ///
    /// let region = Region::builder().build()?;
    /// let value: u32 = region.get_or_create("k", || async { Ok::<_, std::io::Error>(1) }).await?;
    /// assert_eq!((value, region.locked_keys()), (1, 0));
    /// # Ok(())
    /// # }
    /// ```
    pub fn locked_keys(&self) -> usize {
        self.inner.locks.len()
    }

    /// The value at `key` if it is there and neither expired nor invalidated.
    ///
    /// # Errors
    ///
    /// The backend's error; [`Error::Codec`] for undecodable bytes under
    /// [`DecodeErrorPolicy::Error`]; [`Error::UnsupportedKey`] for a hash key on a backend
    /// without hash storage.
    pub async fn get<T: DeserializeOwned>(&self, key: impl AsCacheKey) -> Result<Option<T>> {
        self.get_with(key, GetOptions::new()).await
    }

    /// [`Region::get`] with per-call options.
    ///
    /// # Errors
    ///
    /// As [`Region::get`].
    pub async fn get_with<T: DeserializeOwned>(&self, key: impl AsCacheKey, options: GetOptions) -> Result<Option<T>> {
        Ok(self.get_value_metadata_with(key, options).await?.map(|v| v.payload))
    }

    /// The value at `key` with its metadata (creation time, version), under the same rules as
    /// [`Region::get`].
    ///
    /// # Errors
    ///
    /// As [`Region::get`].
    pub async fn get_value_metadata<T: DeserializeOwned>(
        &self,
        key: impl AsCacheKey,
    ) -> Result<Option<CachedValue<T>>> {
        self.get_value_metadata_with(key, GetOptions::new()).await
    }

    /// [`Region::get_value_metadata`] with per-call options.
    ///
    /// # Errors
    ///
    /// As [`Region::get`].
    pub async fn get_value_metadata_with<T: DeserializeOwned>(
        &self,
        key: impl AsCacheKey,
        options: GetOptions,
    ) -> Result<Option<CachedValue<T>>> {
        let key = key.as_key_ref();
        operation::observed!(self, Operation::Get, Some(key), 1, async {
            let bytes = match self.ready_bytes(key) {
                Some(read) => read.map_err(|e| e.with_key(key))?,
                None => {
                    let key = key.to_cache_key();
                    self.read_bytes(&key, &*self.backend_key(&key)?).await?
                }
            };
            let value = self.decode(key, bytes.as_deref())?;
            self.learn_tags(std::slice::from_ref(&value)).await?;
            let freshness = self.freshness(options.expiry.resolve(self.inner.expiration));
            let value = value.filter(|v| options.ignore_expiration || freshness.usable(key, v));
            self.count_read(value.is_some());
            Ok(value)
        })
    }

    /// The values at `keys`, in order, duplicates included; `None` where [`Region::get`] would
    /// give `None`. One backend call.
    ///
    /// # Errors
    ///
    /// As [`Region::get`].
    pub async fn get_multi<T, K>(&self, keys: impl IntoIterator<Item = K>) -> Result<Vec<Option<T>>>
    where
        T: DeserializeOwned,
        K: AsCacheKey,
    {
        self.get_multi_with(keys, GetOptions::new()).await
    }

    /// [`Region::get_multi`] with per-call options.
    ///
    /// # Errors
    ///
    /// As [`Region::get`].
    pub async fn get_multi_with<T, K>(
        &self,
        keys: impl IntoIterator<Item = K>,
        options: GetOptions,
    ) -> Result<Vec<Option<T>>>
    where
        T: DeserializeOwned,
        K: AsCacheKey,
    {
        let keys: Vec<CacheKey> = keys.into_iter().map(AsCacheKey::into_cache_key).collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        operation::observed!(self, Operation::GetMulti, None, keys.len(), async {
            let found = match self.mangled_keys(&keys)? {
                Some(mangled) => self.inner.spanned.get_multi(&mangled).await?,
                None => self.inner.spanned.get_multi(&keys).await?,
            };
            let now = self.decode_time();
            let decoded = keys
                .iter()
                .zip(found)
                .map(|(key, bytes)| self.decode_at::<T>(key.as_key_ref(), bytes.as_deref(), now))
                .collect::<Result<Vec<_>>>()?;
            self.learn_tags(&decoded).await?;
            let mut out = Vec::with_capacity(keys.len());
            let mut hits = 0;
            let freshness = self.freshness(options.expiry.resolve(self.inner.expiration));
            for (key, value) in keys.iter().zip(decoded) {
                let key = key.as_key_ref();
                let value = value.filter(|v| options.ignore_expiration || freshness.usable(key, v));
                hits += usize::from(value.is_some());
                out.push(value.map(|v| v.payload));
            }
            self.inner.stats.add(Count::Hit, hits as u64);
            self.inner.stats.add(Count::Miss, (keys.len() - hits) as u64);
            Ok(out)
        })
    }

    /// Stores `value` at `key`, created now.
    ///
    /// # Errors
    ///
    /// The backend's error; [`Error::Codec`] when the value cannot be encoded.
    pub async fn set<T: Serialize + ?Sized>(&self, key: impl AsCacheKey, value: &T) -> Result<()> {
        self.set_with(key, value, SetOptions::new()).await
    }

    /// [`Region::set`] with options: the value's tags.
    ///
    /// # Errors
    ///
    /// As [`Region::set`]; [`Error::Codec`] for tags on a codec whose envelope keeps no
    /// metadata.
    pub async fn set_with<T: Serialize + ?Sized>(
        &self,
        key: impl AsCacheKey,
        value: &T,
        options: SetOptions,
    ) -> Result<()> {
        let key = key.into_cache_key();
        operation::observed!(self, Operation::Set, Some(key.as_key_ref()), 1, async {
            let backend_key = self.backend_key(&key)?;
            let tags = options.tags_for(&key);
            let bytes = self.inner.codec.encode_created_for(&key, &value, self.inner.clock.now(), None, &tags)?;
            self.inner.spanned.set(&backend_key, Bytes::from(bytes)).await.map_err(|e| e.with_key(&key))
        })
    }

    /// Stores every pair in one backend call (dogpile's `set_multi` of a mapping).
    ///
    /// # Errors
    ///
    /// As [`Region::set`].
    pub async fn set_multi<K, T>(&self, items: impl IntoIterator<Item = (K, T)>) -> Result<()>
    where
        K: AsCacheKey,
        T: Serialize,
    {
        self.set_multi_with(items, SetOptions::new()).await
    }

    /// [`Region::set_multi`] with options: the values' tags (by key).
    ///
    /// # Errors
    ///
    /// As [`Region::set_with`].
    pub async fn set_multi_with<K, T>(&self, items: impl IntoIterator<Item = (K, T)>, options: SetOptions) -> Result<()>
    where
        K: AsCacheKey,
        T: Serialize,
    {
        let now = self.inner.clock.now();
        let mut encoded = Vec::new();
        let encoding = items.into_iter().try_for_each(|(key, value)| {
            let key = key.into_cache_key();
            let tags = options.tags_for(&key);
            let bytes = Bytes::from(self.inner.codec.encode_created_for(&key, &value, now, None, &tags)?);
            let backend_key = match self.backend_key(&key)? {
                Cow::Owned(mangled) => mangled,
                Cow::Borrowed(_) => key,
            };
            encoded.push((backend_key, bytes));
            Ok(())
        });
        if encoding.is_ok() && encoded.is_empty() {
            return Ok(());
        }
        operation::observed!(self, Operation::SetMulti, None, encoded.len(), async {
            encoding?;
            self.inner.spanned.set_multi(&encoded).await
        })
    }

    /// Removes `key`.
    ///
    /// # Errors
    ///
    /// The backend's error.
    pub async fn delete(&self, key: impl AsCacheKey) -> Result<()> {
        let key = key.into_cache_key();
        operation::observed!(self, Operation::Delete, Some(key.as_key_ref()), 1, async {
            let backend_key = self.backend_key(&key)?;
            self.inner.spanned.delete(&backend_key).await.map_err(|e| e.with_key(&key))
        })
    }

    /// Removes every key in one backend call.
    ///
    /// # Errors
    ///
    /// The backend's error.
    pub async fn delete_multi<K: AsCacheKey>(&self, keys: impl IntoIterator<Item = K>) -> Result<()> {
        let keys: Vec<CacheKey> = keys.into_iter().map(AsCacheKey::into_cache_key).collect();
        if keys.is_empty() {
            return Ok(());
        }
        operation::observed!(self, Operation::DeleteMulti, None, keys.len(), async {
            match self.mangled_keys(&keys)? {
                Some(mangled) => self.inner.spanned.delete_multi(&mangled).await,
                None => self.inner.spanned.delete_multi(&keys).await,
            }
        })
    }

    /// Invalidates every value created before now. Hard: they become misses. Soft: they
    /// become stale, regenerated by one caller while the others get the old value (soft
    /// invalidation needs an expiration time on the calls it affects).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// let clock = dogpile::MockClock::new(1_000.0);
    /// let region = dogpile::Region::builder().clock(clock.clone()).build()?;
    /// region.set("k", &1).await?;
    /// clock.advance(std::time::Duration::from_millis(1));
    /// region.invalidate(true);
    /// assert_eq!(region.get::<i32>("k").await?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn invalidate(&self, hard: bool) {
        self.inner.invalidator.invalidate(hard, self.inner.clock.now());
    }

    /// Whether someone is creating the value for `key` right now (its dogpile mutex is held).
    /// Never acquires the mutex.
    ///
    /// # Errors
    ///
    /// The backend's error when it asks a distributed mutex.
    pub async fn key_is_locked(&self, key: impl AsCacheKey) -> Result<bool> {
        let key = key.into_cache_key();
        let backend_key = self.backend_key(&key)?;
        if self.inner.locks.is_locked(&backend_key) {
            return Ok(true);
        }
        match self.inner.spanned.get_mutex(&backend_key) {
            Some(mutex) => mutex.locked().await.map_err(|e| e.with_key(&key)),
            None => Ok(false),
        }
    }

    // ---- internals shared by the read-through paths ----

    /// The stored bytes: from the backend's ready answer if it has one, else its future.
    async fn read_bytes(&self, key: &CacheKey, backend_key: &CacheKey) -> Result<Option<Bytes>> {
        let read = match self.inner.spanned.get_ready(backend_key.as_key_ref()) {
            Some(ready) => ready,
            None => self.inner.spanned.get(backend_key).await,
        };
        read.map_err(|e| e.with_key(key))
    }

    /// The bytes at `key` if the store has them at hand (an in-process store), looked up by
    /// the key as the caller gave it, with no owned key built; `None` when the read must go
    /// the full way: a store that must be awaited, a mangler, or a hash key the backend
    /// refuses.
    fn ready_bytes(&self, key: KeyRef<'_>) -> Option<Result<Option<Bytes>>> {
        if self.inner.mangler.is_some() || (key.is_hash() && !self.inner.capabilities.hash_keys) {
            return None;
        }
        self.inner.spanned.get_ready(key)
    }

    /// The key as the backend sees it: mangled if the region has a mangler, else borrowed.
    fn backend_key<'k>(&self, key: &'k CacheKey) -> Result<Cow<'k, CacheKey>> {
        if key.is_hash() && !self.inner.capabilities.hash_keys {
            return Err(Error::UnsupportedKey { key: key.clone(), backend: self.inner.spanned.name() });
        }
        Ok(match &self.inner.mangler {
            Some(mangler) => Cow::Owned(mangler.mangle(key)),
            None => Cow::Borrowed(key),
        })
    }

    fn backend_keys(&self, keys: &[CacheKey]) -> Result<Vec<CacheKey>> {
        keys.iter().map(|k| self.backend_key(k).map(Cow::into_owned)).collect()
    }

    /// The keys as the backend sees them, when they differ from `keys` (a mangler); `None`
    /// when `keys` can go to the backend as they are. Checks hash-key support either way.
    fn mangled_keys(&self, keys: &[CacheKey]) -> Result<Option<Vec<CacheKey>>> {
        if self.inner.mangler.is_some() {
            return self.backend_keys(keys).map(Some);
        }
        for key in keys {
            self.backend_key(key)?;
        }
        Ok(None)
    }

    /// Decodes stored bytes; a wrong version is a miss, undecodable bytes follow the policy.
    fn decode<T: DeserializeOwned>(&self, key: KeyRef<'_>, bytes: Option<&[u8]>) -> Result<Option<CachedValue<T>>> {
        self.decode_at(key, bytes, self.decode_time())
    }

    /// The time a value read now is stamped with when its envelope keeps none (the raw
    /// envelope): read once for all the values of a multi-key read.
    fn decode_time(&self) -> f64 {
        if self.inner.codec.envelope().keeps_creation_time() { 0.0 } else { self.inner.clock.now() }
    }

    /// [`Region::decode`], stamping a raw value with `now` (from [`Region::decode_time`]).
    fn decode_at<T: DeserializeOwned>(
        &self,
        key: KeyRef<'_>,
        bytes: Option<&[u8]>,
        now: f64,
    ) -> Result<Option<CachedValue<T>>> {
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        match self.inner.codec.decode::<T>(bytes, now) {
            Ok(value) if value.metadata.v == self.inner.codec.value_version() => Ok(Some(value)),
            Ok(_value) => {
                trace::decision!(
                    self,
                    key,
                    stored = _value.metadata.v,
                    expected = self.inner.codec.value_version(),
                    "value version mismatch: treated as missing"
                );
                Ok(None)
            }
            Err(source) if Codec::is_no_value(&source) => {
                if let Some(_foreign) = source.downcast_ref::<ForeignVersion>() {
                    trace::decision!(
                        self,
                        key,
                        stored = _foreign.0,
                        expected = self.inner.codec.value_version(),
                        "value version mismatch: treated as missing"
                    );
                }
                Ok(None)
            }
            Err(source) => {
                self.inner.stats.bump(Count::DecodeError);
                match self.inner.decode_errors {
                    DecodeErrorPolicy::Error => Err(Error::Codec { key: Some(key.to_cache_key()), source }),
                    _ => {
                        trace::decision!(self, key, format = crate::codec::detect(bytes).unwrap_or("none known"),
                            error = %source, "entry did not decode: treated as missing");
                        Ok(None)
                    }
                }
            }
        }
    }

    fn count_read(&self, hit: bool) {
        self.inner.stats.bump(if hit { Count::Hit } else { Count::Miss });
    }

    /// Hands an error that no caller receives to the sink (and to `tracing`).
    pub(crate) fn report(&self, error: &Error) {
        self.inner.stats.error(error);
        #[cfg(feature = "tracing")]
        tracing::warn!(region = ?self.inner.name, error = %error, "dogpile background error");
        if let Some(sink) = &self.inner.error_sink {
            sink(error);
        }
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Inner {
            name,
            backend,
            actual: _,
            spanned: _,
            capabilities,
            codec,
            expiration,
            mangler,
            clock,
            invalidator,
            locks,
            decode_errors,
            error_sink,
            stats: _,
            fail_safe,
            creator_timeout,
            throttled: _,
            expiration_jitter,
            fail_open,
            early_refresh,
            soft_timeout,
            key_logging,
            function_keys,
            tags,
        } = &*self.inner;
        f.debug_struct("Region")
            .field("name", name)
            .field("backend", backend)
            .field("capabilities", capabilities)
            .field("codec", codec)
            .field("expiration", expiration)
            .field("key_mangler", &mangler.is_some())
            .field("clock", clock)
            .field("invalidator", invalidator)
            .field("locks", locks)
            .field("decode_errors", decode_errors)
            .field("error_sink", &error_sink.is_some())
            .field("fail_safe", fail_safe)
            .field("creator_timeout", creator_timeout)
            .field("expiration_jitter", expiration_jitter)
            .field("fail_open", &fail_open.as_ref().map(|f| f.breaker.settings()))
            .field("early_refresh", &early_refresh.as_ref().map(|e| e.beta))
            .field("soft_timeout", soft_timeout)
            .field("key_logging", key_logging)
            .field("function_key_generator", &function_keys.single.is_some())
            .field("function_multi_key_generator", &function_keys.multi.is_some())
            .field("tags", tags)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lock_table_is_empty_after_100k_distinct_keys() {
        let region = Region::builder().build().unwrap();
        let mut tasks = Vec::new();
        for shard in 0..4u32 {
            let region = region.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..25_000u32 {
                    let key = format!("k{shard}:{i}");
                    let v: u32 = region.get_or_create(key, || async move { Ok::<_, std::io::Error>(i) }).await.unwrap();
                    assert_eq!(v, i);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(region.stats().creates, 100_000);
        assert!(region.locked_keys() <= 4, "lock table still holds {} keys", region.locked_keys());
        assert_eq!(region.locked_keys(), 0);
    }
}
