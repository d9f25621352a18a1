//! A blocking facade over [`Region`](crate::Region), for synchronous callers (in the style
//! of `reqwest::blocking`).
//!
//! A [`blocking::Region`](Region) owns a small tokio runtime and blocks the calling thread on
//! each call; creators are ordinary closures and run on the caller's thread. The names are the
//! async ones.
//!
//! # Panics
//!
//! Calling a blocking method from inside an async runtime panics (tokio refuses to block a
//! runtime thread): use the async [`Region`](crate::Region) there. Dropping a blocking region
//! is safe anywhere.
//!
//! # Examples
//!
//! ```
//! use dogpile::blocking::Region;
//!
//! let region = Region::builder().build()?;
//! let n: u32 = region.get_or_create("answer", || Ok::<_, std::io::Error>(42))?;
//! assert_eq!(n, 42);
//! assert_eq!(region.get::<u32>("answer")?, Some(42));
//! # Ok::<(), dogpile::Error>(())
//! ```

mod cached_fn;
mod runtime;

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use self::cached_fn::{CachedFn, CachedMultiFn};
use self::runtime::OwnedRuntime;
use crate::error::{BoxError, Result};
use crate::key::{AsCacheKey, CacheKey};
use crate::region::{CreateOptions, GetOptions, RegionStats, SetOptions};
use crate::value::CachedValue;

/// A blocking cache region. Cheap to clone; clones share the region and its runtime.
#[derive(Clone)]
pub struct Region {
    inner: crate::Region,
    runtime: Arc<OwnedRuntime>,
}

/// Builds a blocking [`Region`]: wraps the async [`RegionBuilder`](crate::RegionBuilder).
#[must_use]
#[derive(Debug, Default)]
pub struct RegionBuilder {
    inner: crate::RegionBuilder,
}

impl RegionBuilder {
    /// A builder with the async builder's defaults.
    pub fn new() -> Self {
        RegionBuilder::default()
    }

    /// Configures the underlying async builder.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let region = dogpile::blocking::Region::builder()
    ///     .with_inner(|b| b.expiration_time(Duration::from_secs(60)))
    ///     .build()?;
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn with_inner(mut self, f: impl FnOnce(crate::RegionBuilder) -> crate::RegionBuilder) -> Self {
        self.inner = f(self.inner);
        self
    }

    /// Builds the region and starts its runtime.
    ///
    /// # Errors
    ///
    /// As [`RegionBuilder::build`](crate::RegionBuilder::build), or when the runtime cannot
    /// start.
    pub fn build(self) -> Result<Region> {
        Region::from_async(self.inner.build()?)
    }
}

impl From<crate::RegionBuilder> for RegionBuilder {
    fn from(inner: crate::RegionBuilder) -> Self {
        RegionBuilder { inner }
    }
}

impl Region {
    /// A builder.
    pub fn builder() -> RegionBuilder {
        RegionBuilder::new()
    }

    /// A blocking facade over an async region (sharing its backend and locks).
    ///
    /// # Errors
    ///
    /// When the runtime cannot start.
    pub fn from_async(region: crate::Region) -> Result<Self> {
        Ok(Region { inner: region, runtime: Arc::new(OwnedRuntime::new()?) })
    }

    /// The async region inside.
    pub fn as_async(&self) -> &crate::Region {
        &self.inner
    }

    /// See [`crate::Region::get`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn get<T: DeserializeOwned>(&self, key: impl AsCacheKey) -> Result<Option<T>> {
        self.runtime.block_on(self.inner.get(key))
    }

    /// See [`crate::Region::get_with`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn get_with<T: DeserializeOwned>(&self, key: impl AsCacheKey, options: GetOptions) -> Result<Option<T>> {
        self.runtime.block_on(self.inner.get_with(key, options))
    }

    /// See [`crate::Region::get_value_metadata`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn get_value_metadata<T: DeserializeOwned>(&self, key: impl AsCacheKey) -> Result<Option<CachedValue<T>>> {
        self.runtime.block_on(self.inner.get_value_metadata(key))
    }

    /// See [`crate::Region::get_multi`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn get_multi<T: DeserializeOwned, K: AsCacheKey>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<Option<T>>> {
        self.runtime.block_on(self.inner.get_multi(keys))
    }

    /// See [`crate::Region::set`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn set<T: Serialize + ?Sized>(&self, key: impl AsCacheKey, value: &T) -> Result<()> {
        self.runtime.block_on(self.inner.set(key, value))
    }

    /// See [`crate::Region::set_multi`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn set_multi<K: AsCacheKey, T: Serialize>(&self, items: impl IntoIterator<Item = (K, T)>) -> Result<()> {
        self.runtime.block_on(self.inner.set_multi(items))
    }

    /// See [`crate::Region::delete`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn delete(&self, key: impl AsCacheKey) -> Result<()> {
        self.runtime.block_on(self.inner.delete(key))
    }

    /// See [`crate::Region::delete_multi`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn delete_multi<K: AsCacheKey>(&self, keys: impl IntoIterator<Item = K>) -> Result<()> {
        self.runtime.block_on(self.inner.delete_multi(keys))
    }

    /// See [`crate::Region::get_or_create`]; `creator` runs on the calling thread.
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn get_or_create<T, E>(&self, key: impl AsCacheKey, creator: impl FnOnce() -> Result<T, E>) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        E: Into<BoxError>,
    {
        self.get_or_create_with(key, &CreateOptions::new(), creator)
    }

    /// See [`crate::Region::get_or_create_with`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn get_or_create_with<T, E>(
        &self,
        key: impl AsCacheKey,
        options: &CreateOptions<T>,
        creator: impl FnOnce() -> Result<T, E>,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        E: Into<BoxError>,
    {
        self.runtime.block_on(self.inner.get_or_create_with(key, options, || async move { creator() }))
    }

    /// See [`crate::Region::get_or_create_multi`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn get_or_create_multi<T, K, E>(
        &self,
        keys: impl IntoIterator<Item = K>,
        creator: impl FnOnce(Vec<CacheKey>) -> Result<Vec<T>, E>,
    ) -> Result<Vec<T>>
    where
        T: Serialize + DeserializeOwned + Clone,
        K: AsCacheKey,
        E: Into<BoxError>,
    {
        self.runtime.block_on(self.inner.get_or_create_multi(keys, |missing| async move { creator(missing) }))
    }

    /// See [`crate::Region::get_or_create_multi_with`] (per-key tags among the options).
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn get_or_create_multi_with<T, K, E>(
        &self,
        keys: impl IntoIterator<Item = K>,
        options: &CreateOptions<T>,
        creator: impl FnOnce(Vec<CacheKey>) -> Result<Vec<T>, E>,
    ) -> Result<Vec<T>>
    where
        T: Serialize + DeserializeOwned + Clone,
        K: AsCacheKey,
        E: Into<BoxError>,
    {
        self.runtime.block_on(self.inner.get_or_create_multi_with(
            keys,
            options,
            |missing| async move { creator(missing) },
        ))
    }

    /// See [`crate::Region::set_with`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn set_with<T: Serialize + ?Sized>(&self, key: impl AsCacheKey, value: &T, options: SetOptions) -> Result<()> {
        self.runtime.block_on(self.inner.set_with(key, value, options))
    }

    /// See [`crate::Region::set_multi_with`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn set_multi_with<K: AsCacheKey, T: Serialize>(
        &self,
        items: impl IntoIterator<Item = (K, T)>,
        options: SetOptions,
    ) -> Result<()> {
        self.runtime.block_on(self.inner.set_multi_with(items, options))
    }

    /// See [`crate::Region::invalidate`].
    pub fn invalidate(&self, hard: bool) {
        self.inner.invalidate(hard);
    }

    /// See [`crate::Region::invalidate_tags`].
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::region::SetOptions;
    ///
    /// let region = dogpile::blocking::Region::builder().build()?;
    /// region.set_with("user:42:name", &"Ada", SetOptions::new().tags(["user:42"]))?;
    /// region.invalidate_tags(["user:42"], true)?;
    /// assert_eq!(region.get::<String>("user:42:name")?, None);
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn invalidate_tags<S: Into<String>>(&self, tags: impl IntoIterator<Item = S>, hard: bool) -> Result<()> {
        self.runtime.block_on(self.inner.invalidate_tags(tags, hard))
    }

    /// See [`crate::Region::key_is_locked`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn key_is_locked(&self, key: impl AsCacheKey) -> Result<bool> {
        self.runtime.block_on(self.inner.key_is_locked(key))
    }

    /// See [`crate::Region::stats`].
    pub fn stats(&self) -> RegionStats {
        self.inner.stats()
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::Region").field("inner", &self.inner).finish_non_exhaustive()
    }
}
