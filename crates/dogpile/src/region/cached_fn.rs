//! Function caching: dogpile's `cache_on_arguments` and `cache_multi_on_arguments`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::fn_key::KeyArgs;
use super::{CreateOptions, Region};
use crate::error::{BoxError, Error, Result};
use crate::key::CacheKey;

/// What both function wrappers hold besides the function: the region, how keys are made,
/// and the options of the read-through calls.
struct Keyed<T> {
    region: Region,
    name: String,
    prefix: String,
    options: CreateOptions<T>,
}

impl<T> Keyed<T> {
    fn new(region: &Region, name: &str) -> Self {
        Keyed {
            region: region.clone(),
            name: name.to_owned(),
            prefix: format!("{name}|"),
            options: CreateOptions::new(),
        }
    }

    fn set_namespace(&mut self, namespace: &str) {
        self.prefix = format!("{}|{namespace}|", self.name);
    }

    fn key(&self, args: &(impl KeyArgs + ?Sized)) -> CacheKey {
        let mut key = self.prefix.clone();
        args.write_key(&mut key);
        CacheKey::Plain(key)
    }
}

impl<T> fmt::Debug for Keyed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyed").field("prefix", &self.prefix).field("options", &self.options).finish_non_exhaustive()
    }
}

/// A function whose results are cached per argument tuple (dogpile's `cache_on_arguments`).
/// Made by [`Region::cache_on_arguments`].
///
/// The key is `name|args` (or `name|namespace|args`), where `args` joins Python's `str()` of
/// each argument with spaces ([`KeyArgs`]): give `name` as Python's `module:function` and keys
/// match the ones dogpile.cache's `function_key_generator` derives.
pub struct CachedFn<A, T, F> {
    keyed: Keyed<T>,
    function: F,
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
        CachedFn { keyed: Keyed::new(self, name), function, _args: PhantomData }
    }

    /// Wraps `function`, which computes many results at once, so that its results are cached
    /// per argument (dogpile's `cache_multi_on_arguments`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// let region = dogpile::Region::builder().build()?;
    /// let doubles = region.cache_multi_on_arguments("app:double", |ns: Vec<u32>| async move {
    ///     Ok::<_, std::io::Error>(ns.iter().map(|n| n * 2).collect::<Vec<_>>())
    /// });
    /// assert_eq!(doubles.call(&[1, 2, 1]).await?, [2, 4, 2]);
    /// assert_eq!(doubles.get(&[2, 3]).await?, [Some(4), None]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn cache_multi_on_arguments<A, T, F, Fut, E>(&self, name: &str, function: F) -> CachedMultiFn<A, T, F>
    where
        A: KeyArgs + Clone,
        T: Serialize + DeserializeOwned + Clone,
        F: Fn(Vec<A>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, E>>,
        E: Into<BoxError>,
    {
        CachedMultiFn { keyed: Keyed::new(self, name), function, _args: PhantomData }
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
    /// Puts `namespace` into the key: `name|namespace|args`.
    #[must_use]
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.keyed.set_namespace(namespace);
        self
    }

    /// Per-call options used by [`CachedFn::call`] (expiration time, `should_cache`).
    #[must_use]
    pub fn options(mut self, options: CreateOptions<T>) -> Self {
        self.keyed.options = options;
        self
    }

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
        self.keyed.region.get_or_create_with(key, &self.keyed.options, || (self.function)(args)).await
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
        let value =
            (self.function)(args).await.map_err(|e| Error::Creator { key: Some(key.clone()), source: e.into() })?;
        self.keyed.region.set(key, &value).await?;
        Ok(value)
    }

    /// Stores `value` as the result for `args`.
    ///
    /// # Errors
    ///
    /// As [`Region::set`].
    pub async fn set(&self, args: &A, value: &T) -> Result<()> {
        self.keyed.region.set(self.key(args), value).await
    }
}

impl<A, T, F> fmt::Debug for CachedFn<A, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedFn").field("keyed", &self.keyed).finish_non_exhaustive()
    }
}

/// A function over many arguments whose results are cached per argument (dogpile's
/// `cache_multi_on_arguments`). Made by [`Region::cache_multi_on_arguments`].
pub struct CachedMultiFn<A, T, F> {
    keyed: Keyed<T>,
    function: F,
    _args: PhantomData<fn(A)>,
}

impl<A, T, F, Fut, E> CachedMultiFn<A, T, F>
where
    A: KeyArgs + Clone,
    T: Serialize + DeserializeOwned + Clone,
    F: Fn(Vec<A>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, E>>,
    E: Into<BoxError>,
{
    /// Puts `namespace` into the keys: `name|namespace|arg`.
    #[must_use]
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.keyed.set_namespace(namespace);
        self
    }

    /// Per-call options used by [`CachedMultiFn::call`].
    #[must_use]
    pub fn options(mut self, options: CreateOptions<T>) -> Self {
        self.keyed.options = options;
        self
    }

    /// The cache key for one argument.
    pub fn key(&self, arg: &A) -> CacheKey {
        self.keyed.key(arg)
    }

    /// The results for `args`, in order; the function is called once with the arguments
    /// whose results are missing or expired.
    ///
    /// # Errors
    ///
    /// As [`Region::get_or_create_multi`].
    pub async fn call(&self, args: &[A]) -> Result<Vec<T>> {
        let by_key: HashMap<CacheKey, &A> = args.iter().map(|a| (self.key(a), a)).collect();
        let keys: Vec<CacheKey> = args.iter().map(|a| self.key(a)).collect();
        self.keyed
            .region
            .get_or_create_multi_with(keys, &self.keyed.options, |missing: Vec<CacheKey>| {
                let wanted: Vec<A> = missing.iter().filter_map(|k| by_key.get(k).map(|a| (*a).clone())).collect();
                (self.function)(wanted)
            })
            .await
    }

    /// The cached results for `args`, without calling the function.
    ///
    /// # Errors
    ///
    /// As [`Region::get_multi`].
    pub async fn get(&self, args: &[A]) -> Result<Vec<Option<T>>> {
        self.keyed.region.get_multi(args.iter().map(|a| self.key(a))).await
    }

    /// Removes the cached results for `args`.
    ///
    /// # Errors
    ///
    /// As [`Region::delete_multi`].
    pub async fn invalidate(&self, args: &[A]) -> Result<()> {
        self.keyed.region.delete_multi(args.iter().map(|a| self.key(a))).await
    }

    /// Calls the function now for `args` and stores the results.
    ///
    /// # Errors
    ///
    /// [`Error::Creator`] with the function's error, or when it returns another number of
    /// values than arguments; the backend's error on storing.
    pub async fn refresh(&self, args: &[A]) -> Result<Vec<T>> {
        let values =
            (self.function)(args.to_vec()).await.map_err(|e| Error::Creator { key: None, source: e.into() })?;
        if values.len() != args.len() {
            let message = format!("function returned {} values for {} arguments", values.len(), args.len());
            return Err(Error::Creator { key: None, source: message.into() });
        }
        self.keyed.region.set_multi(args.iter().map(|a| self.key(a)).zip(values.iter())).await?;
        Ok(values)
    }

    /// Stores each value as the result for its argument.
    ///
    /// # Errors
    ///
    /// As [`Region::set_multi`].
    pub async fn set(&self, items: &[(A, T)]) -> Result<()> {
        self.keyed.region.set_multi(items.iter().map(|(a, v)| (self.key(a), v))).await
    }
}

impl<A, T, F> fmt::Debug for CachedMultiFn<A, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedMultiFn").field("keyed", &self.keyed).finish_non_exhaustive()
    }
}
