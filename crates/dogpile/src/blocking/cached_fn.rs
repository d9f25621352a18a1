//! Function caching for synchronous callers: [`CachedFn`] and [`CachedMultiFn`] over the
//! async wrappers, with plain functions.

use std::fmt;
use std::future::Ready;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Region;
use super::runtime::OwnedRuntime;
use crate::error::{BoxError, Result};
use crate::key::CacheKey;
use crate::region::{CreateOptions, KeyArgs};

/// The async wrapper's view of a plain function: its result, ready at once.
type Ready1<A, T> = Box<dyn Fn(A) -> Ready<Result<T, BoxError>> + Send + Sync>;

/// A plain function whose results are cached per argument tuple (dogpile's
/// `cache_on_arguments`); made by [`Region::cache_on_arguments`]. The function runs on the
/// calling thread.
pub struct CachedFn<A, T, F> {
    inner: crate::region::CachedFn<A, T, Ready1<A, T>>,
    function: Arc<F>,
    runtime: Arc<OwnedRuntime>,
}

/// A plain function over many arguments whose results are cached per argument (dogpile's
/// `cache_multi_on_arguments`); made by [`Region::cache_multi_on_arguments`].
pub struct CachedMultiFn<A, T, F> {
    inner: crate::region::CachedMultiFn<A, T, Ready1<Vec<A>, Vec<T>>>,
    function: Arc<F>,
    runtime: Arc<OwnedRuntime>,
}

/// `function` as the async wrappers take it, its error boxed.
fn ready<A, T, E, F>(function: &Arc<F>) -> Ready1<A, T>
where
    F: Fn(A) -> Result<T, E> + Send + Sync + 'static,
    E: Into<BoxError>,
{
    let function = Arc::clone(function);
    Box::new(move |args| std::future::ready(function(args).map_err(Into::into)))
}

impl Region {
    /// See [`crate::Region::cache_on_arguments`]; `function` is a plain function.
    ///
    /// # Examples
    ///
    /// ```
    /// let region = dogpile::blocking::Region::builder().build()?;
    /// let square = region.cache_on_arguments("app:square", |(n,): (u64,)| Ok::<_, std::io::Error>(n * n));
    /// assert_eq!(square.call((12,))?, 144);
    /// assert_eq!(square.get(&(12,))?, Some(144));
    /// square.invalidate(&(12,))?;
    /// assert_eq!(square.get(&(12,))?, None);
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn cache_on_arguments<A, T, F, E>(&self, name: &str, function: F) -> CachedFn<A, T, F>
    where
        A: KeyArgs + 'static,
        T: Serialize + DeserializeOwned + 'static,
        F: Fn(A) -> Result<T, E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        let function = Arc::new(function);
        let inner = self.inner.cache_on_arguments(name, ready(&function));
        CachedFn { inner, function, runtime: Arc::clone(&self.runtime) }
    }

    /// See [`crate::Region::cache_multi_on_arguments`]; `function` is a plain function.
    ///
    /// # Examples
    ///
    /// ```
    /// let region = dogpile::blocking::Region::builder().build()?;
    /// let doubles = region.cache_multi_on_arguments("app:double", |ns: Vec<u32>| {
    ///     Ok::<_, std::io::Error>(ns.iter().map(|n| n * 2).collect::<Vec<_>>())
    /// });
    /// assert_eq!(doubles.call(&[1, 2, 1])?, [2, 4, 2]);
    /// assert_eq!(doubles.get(&[2, 3])?, [Some(4), None]);
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn cache_multi_on_arguments<A, T, F, E>(&self, name: &str, function: F) -> CachedMultiFn<A, T, F>
    where
        A: KeyArgs + Clone + 'static,
        T: Serialize + DeserializeOwned + Clone + 'static,
        F: Fn(Vec<A>) -> Result<Vec<T>, E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        let function = Arc::new(function);
        let inner = self.inner.cache_multi_on_arguments(name, ready(&function));
        CachedMultiFn { inner, function, runtime: Arc::clone(&self.runtime) }
    }
}

/// The builder methods both wrappers share, mapped onto the async wrapper.
macro_rules! settings {
    ($value:ty) => {
        /// See the async wrapper's `namespace`.
        #[must_use]
        pub fn namespace(self, namespace: &str) -> Self {
            Self { inner: self.inner.namespace(namespace), ..self }
        }

        /// See the async wrapper's `options`.
        #[must_use]
        pub fn options(self, options: CreateOptions<$value>) -> Self {
            Self { inner: self.inner.options(options), ..self }
        }

        /// See the async wrapper's `key_generator`.
        #[must_use]
        pub fn key_generator(self, key_fn: impl Fn(&A) -> CacheKey + Send + Sync + 'static) -> Self {
            Self { inner: self.inner.key_generator(key_fn), ..self }
        }

        /// See the async wrapper's `expiration_time_fn`.
        #[must_use]
        pub fn expiration_time_fn(self, expiration: impl Fn() -> Option<f64> + Send + Sync + 'static) -> Self {
            Self { inner: self.inner.expiration_time_fn(expiration), ..self }
        }

        /// See the async wrapper's `tags`.
        #[must_use]
        pub fn tags(self, tags_fn: impl Fn(&A) -> Vec<String> + Send + Sync + 'static) -> Self {
            Self { inner: self.inner.tags(tags_fn), ..self }
        }

        /// The function as it was given, uncached (dogpile's `original`).
        pub fn original(&self) -> &F {
            &self.function
        }
    };
}

impl<A, T, F, E> CachedFn<A, T, F>
where
    A: KeyArgs + 'static,
    T: Serialize + DeserializeOwned + 'static,
    F: Fn(A) -> Result<T, E> + Send + Sync + 'static,
    E: Into<BoxError>,
{
    settings!(T);

    /// The cache key for `args`.
    pub fn key(&self, args: &A) -> CacheKey {
        self.inner.key(args)
    }

    /// See [`crate::region::CachedFn::call`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn call(&self, args: A) -> Result<T> {
        self.runtime.block_on(self.inner.call(args))
    }

    /// See [`crate::region::CachedFn::get`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn get(&self, args: &A) -> Result<Option<T>> {
        self.runtime.block_on(self.inner.get(args))
    }

    /// See [`crate::region::CachedFn::invalidate`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn invalidate(&self, args: &A) -> Result<()> {
        self.runtime.block_on(self.inner.invalidate(args))
    }

    /// See [`crate::region::CachedFn::refresh`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn refresh(&self, args: A) -> Result<T> {
        self.runtime.block_on(self.inner.refresh(args))
    }

    /// See [`crate::region::CachedFn::set`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn set(&self, args: &A, value: &T) -> Result<()> {
        self.runtime.block_on(self.inner.set(args, value))
    }
}

impl<A, T, F, E> CachedMultiFn<A, T, F>
where
    A: KeyArgs + Clone + 'static,
    T: Serialize + DeserializeOwned + Clone + 'static,
    F: Fn(Vec<A>) -> Result<Vec<T>, E> + Send + Sync + 'static,
    E: Into<BoxError>,
{
    settings!(T);

    /// See [`crate::region::CachedMultiFn::keys_generator`].
    #[must_use]
    pub fn keys_generator(self, keys_fn: impl Fn(&[A]) -> Vec<CacheKey> + Send + Sync + 'static) -> Self {
        Self { inner: self.inner.keys_generator(keys_fn), ..self }
    }

    /// The cache key for one argument.
    pub fn key(&self, arg: &A) -> CacheKey {
        self.inner.key(arg)
    }

    /// See [`crate::region::CachedMultiFn::call`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn call(&self, args: &[A]) -> Result<Vec<T>> {
        self.runtime.block_on(self.inner.call(args))
    }

    /// See [`crate::region::CachedMultiFn::get`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn get(&self, args: &[A]) -> Result<Vec<Option<T>>> {
        self.runtime.block_on(self.inner.get(args))
    }

    /// See [`crate::region::CachedMultiFn::invalidate`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn invalidate(&self, args: &[A]) -> Result<()> {
        self.runtime.block_on(self.inner.invalidate(args))
    }

    /// See [`crate::region::CachedMultiFn::refresh`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn refresh(&self, args: &[A]) -> Result<Vec<T>> {
        self.runtime.block_on(self.inner.refresh(args))
    }

    /// See [`crate::region::CachedMultiFn::set`].
    ///
    /// # Errors
    ///
    /// As the async method.
    pub fn set(&self, items: &[(A, T)]) -> Result<()> {
        self.runtime.block_on(self.inner.set(items))
    }
}

impl<A, T, F> fmt::Debug for CachedFn<A, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::CachedFn").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<A, T, F> fmt::Debug for CachedMultiFn<A, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::CachedMultiFn").field("inner", &self.inner).finish_non_exhaustive()
    }
}
