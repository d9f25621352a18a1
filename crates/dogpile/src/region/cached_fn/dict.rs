//! [`CachedDictFn`]: dogpile's `cache_multi_on_arguments(asdict=True)`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::multi::wanted;
use super::{Keyed, keyed_settings, multi_keyed_settings};
use crate::error::{BoxError, Error, Result};
use crate::key::CacheKey;
use crate::region::fn_key::KeyArgs;
use crate::region::options::ShouldCache;
use crate::region::{CreateOptions, Region};

impl Region {
    /// Wraps `function`, which computes many results at once and answers with a map from
    /// argument to result, so that its results are cached per argument (dogpile's
    /// `cache_multi_on_arguments(asdict=True)`). An argument the map leaves out is neither
    /// cached nor in the answer, and is asked again at the next call.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// let region = dogpile::Region::builder().build()?;
    /// // Users 1 and 2 exist; 3 does not.
    /// let users = region.cache_multi_on_arguments_asdict("app:user", |ids: Vec<u32>| async move {
    ///     let found: HashMap<u32, String> =
    ///         ids.into_iter().filter(|id| *id < 3).map(|id| (id, format!("user {id}"))).collect();
    ///     Ok::<_, std::io::Error>(found)
    /// });
    /// let answer = users.call(&[1, 3, 2]).await?;
    /// assert_eq!(answer.len(), 2);
    /// assert_eq!(answer[&1], "user 1");
    /// assert!(!answer.contains_key(&3));
    /// # Ok(())
    /// # }
    /// ```
    pub fn cache_multi_on_arguments_asdict<A, T, F, Fut, E>(&self, name: &str, function: F) -> CachedDictFn<A, T, F>
    where
        A: KeyArgs + Clone + Eq + Hash,
        T: Serialize + DeserializeOwned + Clone + 'static,
        F: Fn(Vec<A>) -> Fut,
        Fut: Future<Output = Result<HashMap<A, T>, E>>,
        E: Into<BoxError>,
    {
        let keyed = Keyed::new(self, name, self.inner.function_keys.multi.as_ref());
        CachedDictFn { keyed, function: Arc::new(function), _args: PhantomData }
    }
}

/// A function over many arguments that answers with a map, whose results are cached per
/// argument (dogpile's `cache_multi_on_arguments(asdict=True)`). Made by
/// [`Region::cache_multi_on_arguments_asdict`].
pub struct CachedDictFn<A, T, F> {
    keyed: Keyed<A, T>,
    function: Arc<F>,
    _args: PhantomData<fn(A)>,
}

/// A result, or none for an argument the function left out (dogpile's `NO_VALUE`). Stored
/// as the result alone: an absent one is never stored, and whatever is stored reads back as
/// present (a stored `None` of an `Option` result included).
#[derive(Clone)]
enum Answer<T> {
    Present(T),
    Absent,
}

impl<T: Serialize> Serialize for Answer<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Answer::Present(value) => value.serialize(serializer),
            Answer::Absent => serializer.serialize_unit(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Answer<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        T::deserialize(deserializer).map(Answer::Present)
    }
}

impl<A, T, F, Fut, E> CachedDictFn<A, T, F>
where
    A: KeyArgs + Clone + Eq + Hash,
    T: Serialize + DeserializeOwned + Clone + 'static,
    F: Fn(Vec<A>) -> Fut,
    Fut: Future<Output = Result<HashMap<A, T>, E>>,
    E: Into<BoxError>,
{
    keyed_settings!(T);
    multi_keyed_settings!();

    /// The cache key for one argument.
    pub fn key(&self, arg: &A) -> CacheKey {
        self.keyed.key(arg)
    }

    /// The results for `args`, by argument; the function is called once with the arguments
    /// whose results are missing or expired. Arguments it leaves out are not in the map.
    ///
    /// # Errors
    ///
    /// As [`Region::get_or_create_multi`].
    pub async fn call(&self, args: &[A]) -> Result<HashMap<A, T>> {
        let keys = self.keyed.keys(args)?;
        let by_key: HashMap<CacheKey, A> = keys.iter().cloned().zip(args.iter().cloned()).collect();
        let options = self.answer_options(args, &keys);
        let answers: Vec<Answer<T>> = self
            .keyed
            .region
            .get_or_create_multi_with(keys, &options, |missing: Vec<CacheKey>| {
                answer(&*self.function, wanted(&by_key, &missing))
            })
            .await?;
        Ok(present(args, answers))
    }

    /// [`CachedDictFn::call`], but when every result to create has an expired value, the
    /// expired values are returned at once while a spawned task calls the function and
    /// stores its answers ([`Region::get_or_create_multi_in_background`]).
    ///
    /// # Errors
    ///
    /// As [`Region::get_or_create_multi_in_background`].
    pub async fn call_in_background(&self, args: &[A]) -> Result<HashMap<A, T>>
    where
        A: Send + Sync + 'static,
        T: Send + Sync,
        F: Send + Sync + 'static,
        Fut: Send + 'static,
        E: Send + 'static,
    {
        let keys = self.keyed.keys(args)?;
        let by_key: HashMap<CacheKey, A> = keys.iter().cloned().zip(args.iter().cloned()).collect();
        let function = Arc::clone(&self.function);
        let options = self.answer_options(args, &keys);
        let answers: Vec<Answer<T>> = self
            .keyed
            .region
            .get_or_create_multi_in_background(keys, &options, move |missing: Vec<CacheKey>| {
                answer(&*function, wanted(&by_key, &missing))
            })
            .await?;
        Ok(present(args, answers))
    }

    /// The call's options for answers: only present ones are stored, and of those only what
    /// the caller's `should_cache` keeps.
    fn answer_options(&self, args: &[A], keys: &[CacheKey]) -> CreateOptions<Answer<T>> {
        let options = self.keyed.options_for(args, keys);
        let user = options.should_cache.clone();
        let keep: ShouldCache<Answer<T>> = Arc::new(move |answer: &Answer<T>| match answer {
            Answer::Present(value) => user.as_ref().is_none_or(|p| p(value)),
            Answer::Absent => false,
        });
        options.for_type(Some(keep))
    }

    /// The cached results for `args`, without calling the function; arguments without one
    /// are not in the map.
    ///
    /// # Errors
    ///
    /// As [`Region::get_multi`].
    pub async fn get(&self, args: &[A]) -> Result<HashMap<A, T>> {
        let values: Vec<Option<T>> = self.keyed.region.get_multi(self.keyed.keys(args)?).await?;
        Ok(args.iter().zip(values).filter_map(|(a, v)| v.map(|v| (a.clone(), v))).collect())
    }

    /// Removes the cached results for `args`.
    ///
    /// # Errors
    ///
    /// As [`Region::delete_multi`].
    pub async fn invalidate(&self, args: &[A]) -> Result<()> {
        self.keyed.region.delete_multi(self.keyed.keys(args)?).await
    }

    /// Calls the function now for `args` and stores the results it gives.
    ///
    /// # Errors
    ///
    /// [`Error::Creator`] with the function's error; the backend's error on storing.
    pub async fn refresh(&self, args: &[A]) -> Result<HashMap<A, T>> {
        let found = (self.function)(args.to_vec()).await.map_err(|e| Error::Creator { key: None, source: e.into() })?;
        let found: HashMap<A, T> = found.into_iter().filter(|(a, _)| args.contains(a)).collect();
        self.store(&found).await?;
        Ok(found)
    }

    /// Stores each value as the result for its argument.
    ///
    /// # Errors
    ///
    /// As [`Region::set_multi`].
    pub async fn set(&self, items: &HashMap<A, T>) -> Result<()> {
        self.store(items).await
    }

    /// Stores each value at its argument's key, the keys made from the arguments together.
    async fn store(&self, items: &HashMap<A, T>) -> Result<()> {
        let (args, values): (Vec<A>, Vec<&T>) = items.iter().map(|(a, v)| (a.clone(), v)).unzip();
        let keys = self.keyed.keys(&args)?;
        self.keyed.region.set_multi(keys.into_iter().zip(values)).await
    }
}

/// Calls `function` with `wanted` and gives each wanted argument's answer, in order.
fn answer<A, T, F, Fut, E>(
    function: &F,
    wanted: Vec<A>,
) -> impl Future<Output = Result<Vec<Answer<T>>, E>> + use<A, T, F, Fut, E>
where
    A: Clone + Eq + Hash,
    F: Fn(Vec<A>) -> Fut,
    Fut: Future<Output = Result<HashMap<A, T>, E>>,
{
    let call = function(wanted.clone());
    async move {
        let mut found = call.await?;
        Ok(wanted.iter().map(|a| found.remove(a).map_or(Answer::Absent, Answer::Present)).collect())
    }
}

/// The answers of `args` that are present, by argument.
fn present<A: Clone + Eq + Hash, T>(args: &[A], answers: Vec<Answer<T>>) -> HashMap<A, T> {
    args.iter()
        .zip(answers)
        .filter_map(|(a, answer)| match answer {
            Answer::Present(value) => Some((a.clone(), value)),
            Answer::Absent => None,
        })
        .collect()
}

impl<A, T, F> fmt::Debug for CachedDictFn<A, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedDictFn").field("keyed", &self.keyed).finish_non_exhaustive()
    }
}
