//! [`CachedMultiFn`]: dogpile's `cache_multi_on_arguments`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Keyed, keyed_settings, multi_keyed_settings};
use crate::error::{BoxError, Error, Result};
use crate::key::CacheKey;
use crate::region::fn_key::KeyArgs;
use crate::region::{CreateOptions, Region};

impl Region {
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
        let keyed = Keyed::new(self, name, self.inner.function_keys.multi.as_ref());
        CachedMultiFn { keyed, function: Arc::new(function), _args: PhantomData }
    }
}

/// A function over many arguments whose results are cached per argument (dogpile's
/// `cache_multi_on_arguments`). Made by [`Region::cache_multi_on_arguments`].
pub struct CachedMultiFn<A, T, F> {
    keyed: Keyed<A, T>,
    function: Arc<F>,
    _args: PhantomData<fn(A)>,
}

/// The arguments of the keys a read-through asks to create, in its order.
pub(super) fn wanted<A: Clone>(by_key: &HashMap<CacheKey, A>, missing: &[CacheKey]) -> Vec<A> {
    missing.iter().filter_map(|k| by_key.get(k).cloned()).collect()
}

impl<A, T, F, Fut, E> CachedMultiFn<A, T, F>
where
    A: KeyArgs + Clone,
    T: Serialize + DeserializeOwned + Clone,
    F: Fn(Vec<A>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, E>>,
    E: Into<BoxError>,
{
    keyed_settings!(T);
    multi_keyed_settings!();

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
        let keys = self.keyed.keys(args)?;
        let by_key: HashMap<CacheKey, A> = keys.iter().cloned().zip(args.iter().cloned()).collect();
        let options = self.keyed.options_for(args, &keys);
        self.keyed
            .region
            .get_or_create_multi_with(keys, &*options, |missing: Vec<CacheKey>| {
                (self.function)(wanted(&by_key, &missing))
            })
            .await
    }

    /// [`CachedMultiFn::call`], but when every result to create has an expired value, the
    /// expired values are returned at once while a spawned task calls the function and
    /// stores its results ([`Region::get_or_create_multi_in_background`]).
    ///
    /// # Errors
    ///
    /// As [`Region::get_or_create_multi_in_background`].
    pub async fn call_in_background(&self, args: &[A]) -> Result<Vec<T>>
    where
        A: Send + 'static,
        T: Send + Sync + 'static,
        F: Send + Sync + 'static,
        Fut: Send + 'static,
    {
        let keys = self.keyed.keys(args)?;
        let by_key: HashMap<CacheKey, A> = keys.iter().cloned().zip(args.iter().cloned()).collect();
        let function = Arc::clone(&self.function);
        let options = self.keyed.options_for(args, &keys);
        self.keyed
            .region
            .get_or_create_multi_in_background(keys, &*options, move |missing: Vec<CacheKey>| {
                function(wanted(&by_key, &missing))
            })
            .await
    }

    /// The cached results for `args`, without calling the function.
    ///
    /// # Errors
    ///
    /// As [`Region::get_multi`].
    pub async fn get(&self, args: &[A]) -> Result<Vec<Option<T>>> {
        self.keyed.region.get_multi(self.keyed.keys(args)?).await
    }

    /// Removes the cached results for `args`.
    ///
    /// # Errors
    ///
    /// As [`Region::delete_multi`].
    pub async fn invalidate(&self, args: &[A]) -> Result<()> {
        self.keyed.region.delete_multi(self.keyed.keys(args)?).await
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
        let keys = self.keyed.keys(args)?;
        let options = self.keyed.set_options_for(args, &keys);
        self.keyed.region.set_multi_with(keys.into_iter().zip(values.iter()), options).await?;
        Ok(values)
    }

    /// Stores each value as the result for its argument.
    ///
    /// # Errors
    ///
    /// As [`Region::set_multi`].
    pub async fn set(&self, items: &[(A, T)]) -> Result<()> {
        let args: Vec<A> = items.iter().map(|(a, _)| a.clone()).collect();
        let keys = self.keyed.keys(&args)?;
        let options = self.keyed.set_options_for(&args, &keys);
        self.keyed.region.set_multi_with(keys.into_iter().zip(items.iter().map(|(_, v)| v)), options).await
    }
}

impl<A, T, F> fmt::Debug for CachedMultiFn<A, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedMultiFn").field("keyed", &self.keyed).finish_non_exhaustive()
    }
}
