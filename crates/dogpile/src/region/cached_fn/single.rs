//! [`CachedFn`]: dogpile's `cache_on_arguments`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Keyed, keyed_settings};
use crate::error::{BoxError, Error, Result};
use crate::key::CacheKey;
use crate::region::fn_key::KeyArgs;
use crate::region::{CreateOptions, Region};

/// A function whose results are cached per argument tuple (dogpile's `cache_on_arguments`).
/// Made by [`Region::cache_on_arguments`].
///
/// The key is `name|args` (or `name|namespace|args`), where `args` joins Python's `str()` of
/// each argument with spaces ([`KeyArgs`]): give `name` as Python's `module:function` and keys
/// match the ones dogpile.cache's `function_key_generator` derives.
pub struct CachedFn<A, T, F> {
    keyed: Keyed<A, T>,
    function: Arc<F>,
    _args: PhantomData<fn(A)>,
}

impl Region {
    /// Wraps `function` so that its results are cached by argument tuple.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// let region = dogpile::Region::builder().build()?;
    /// let square = region.cache_on_arguments("app:square", |(n,): (u64,)| async move {
    ///     Ok::<_, std::io::Error>(n * n)
    /// });
    /// assert_eq!(square.call((12,)).await?, 144);
    /// assert_eq!(square.key(&(12,)).to_string(), "app:square|12");
    /// assert_eq!(square.get(&(12,)).await?, Some(144));
    /// square.invalidate(&(12,)).await?;
    /// assert_eq!(square.get(&(12,)).await?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn cache_on_arguments<A, T, F, Fut, E>(&self, name: &str, function: F) -> CachedFn<A, T, F>
    where
        A: KeyArgs,
        T: Serialize + DeserializeOwned,
        F: Fn(A) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        let keyed = Keyed::new(self, name, self.inner.function_keys.single.as_ref());
        CachedFn { keyed, function: Arc::new(function), _args: PhantomData }
    }
}

impl<A, T, F, Fut, E> CachedFn<A, T, F>
where
    A: KeyArgs,
    T: Serialize + DeserializeOwned,
    F: Fn(A) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    keyed_settings!(T);

    /// The cache key for `args`.
    pub fn key(&self, args: &A) -> CacheKey {
        self.keyed.key(args)
    }

    /// The cached result for `args`, calling the function under the dogpile lock when it is
    /// missing or expired.
    ///
    /// # Errors
    ///
    /// As [`Region::get_or_create`].
    pub async fn call(&self, args: A) -> Result<T> {
        let key = self.key(&args);
        let options = self.keyed.options_for(std::slice::from_ref(&args), std::slice::from_ref(&key));
        self.keyed.region.get_or_create_with(key, &*options, || (self.function)(args)).await
    }

    /// [`CachedFn::call`], but an expired result is returned at once while a spawned task
    /// calls the function and stores its result
    /// ([`Region::get_or_create_in_background`], dogpile's `async_creation_runner`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// let region = dogpile::Region::builder().build()?;
    /// let square = region.cache_on_arguments("app:square", |(n,): (u64,)| async move {
    ///     Ok::<_, std::io::Error>(n * n)
    /// });
    /// assert_eq!(square.call_in_background((3,)).await?, 9);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Region::get_or_create_in_background`].
    pub async fn call_in_background(&self, args: A) -> Result<T>
    where
        A: Send + 'static,
        T: Send + Sync + 'static,
        F: Send + Sync + 'static,
        Fut: Send + 'static,
    {
        let key = self.key(&args);
        let function = Arc::clone(&self.function);
        let options = self.keyed.options_for(std::slice::from_ref(&args), std::slice::from_ref(&key));
        self.keyed.region.get_or_create_in_background(key, &*options, move || function(args)).await
    }

    /// The cached result for `args`, without calling the function.
    ///
    /// # Errors
    ///
    /// As [`Region::get`].
    pub async fn get(&self, args: &A) -> Result<Option<T>> {
        self.keyed.region.get(self.key(args)).await
    }

    /// Removes the cached result for `args`.
    ///
    /// # Errors
    ///
    /// As [`Region::delete`].
    pub async fn invalidate(&self, args: &A) -> Result<()> {
        self.keyed.region.delete(self.key(args)).await
    }

    /// Calls the function now and stores its result for `args`, whatever is cached.
    ///
    /// # Errors
    ///
    /// [`Error::Creator`] with the function's error; the backend's error on storing.
    pub async fn refresh(&self, args: A) -> Result<T> {
        let key = self.key(&args);
        let options = self.keyed.set_options_for(std::slice::from_ref(&args), std::slice::from_ref(&key));
        let value =
            (self.function)(args).await.map_err(|e| Error::Creator { key: Some(key.clone()), source: e.into() })?;
        self.keyed.region.set_with(key, &value, options).await?;
        Ok(value)
    }

    /// Stores `value` as the result for `args`.
    ///
    /// # Errors
    ///
    /// As [`Region::set`].
    pub async fn set(&self, args: &A, value: &T) -> Result<()> {
        let key = self.key(args);
        let options = self.keyed.set_options_for(std::slice::from_ref(args), std::slice::from_ref(&key));
        self.keyed.region.set_with(key, value, options).await
    }
}

impl<A, T, F> fmt::Debug for CachedFn<A, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedFn").field("keyed", &self.keyed).finish_non_exhaustive()
    }
}
