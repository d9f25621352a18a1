//! Function caching: dogpile's `cache_on_arguments` ([`CachedFn`]) and
//! `cache_multi_on_arguments` ([`CachedMultiFn`], and [`CachedDictFn`] for `asdict=True`).

mod dict;
mod multi;
mod single;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use dict::CachedDictFn;
pub use multi::CachedMultiFn;
pub use single::CachedFn;

use super::fn_key::KeyArgs;
use super::options::Expiry;
use super::{CreateOptions, Region, SetOptions};
use crate::error::{Error, Result};
use crate::key::CacheKey;

/// What a function key is made from, for a region's key generator
/// ([`RegionBuilder::function_key_generator`](crate::RegionBuilder::function_key_generator)).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct FunctionKey<'a> {
    /// The function's name, as given to [`Region::cache_on_arguments`].
    pub name: &'a str,
    /// The namespace, if one was given.
    pub namespace: Option<&'a str>,
    /// Python's `str()` of each argument, joined by spaces ([`KeyArgs`]); for a multi
    /// function, of the one argument the key is for.
    pub args: &'a str,
}

impl FunctionKey<'_> {
    /// The key dogpile's `function_key_generator` makes: `name|args`, or
    /// `name|namespace|args`.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::region::FunctionKey;
    ///
    /// let region = dogpile::Region::builder()
    ///     .function_key_generator(|k: &FunctionKey<'_>| format!("v2:{}", k.dogpile_key()).into())
    ///     .build()?;
    /// let f = region.cache_on_arguments("app:f", |(n,): (u8,)| async move { Ok::<_, std::io::Error>(n) });
    /// assert_eq!(f.key(&(3,)).to_string(), "v2:app:f|3");
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn dogpile_key(&self) -> String {
        match self.namespace {
            Some(namespace) => format!("{}|{namespace}|{}", self.name, self.args),
            None => format!("{}|{}", self.name, self.args),
        }
    }
}

/// A region's key generator for cached functions (dogpile's `function_key_generator` and
/// `function_multi_key_generator`).
pub type FunctionKeyGenerator = Arc<dyn Fn(&FunctionKey<'_>) -> CacheKey + Send + Sync>;

/// A cached function's own key generator, over its arguments.
type KeyFn<A> = Arc<dyn Fn(&A) -> CacheKey + Send + Sync>;

/// A multi-key cached function's own key generator, over the whole argument list (dogpile's
/// `function_multi_key_generator`).
type KeysFn<A> = Arc<dyn Fn(&[A]) -> Vec<CacheKey> + Send + Sync>;

/// A cached function's expiration time, asked at each call.
type ExpirationFn = Arc<dyn Fn() -> Option<f64> + Send + Sync>;

/// A cached function's tags for a result, from its arguments.
type TagsFn<A> = Arc<dyn Fn(&A) -> Vec<String> + Send + Sync>;

/// What every function wrapper holds besides the function: the region, how keys are made,
/// and the options of the read-through calls.
struct Keyed<A, T> {
    region: Region,
    name: String,
    namespace: Option<String>,
    /// `name|` or `name|namespace|`: the default key's start.
    prefix: String,
    generator: Option<FunctionKeyGenerator>,
    key_fn: Option<KeyFn<A>>,
    keys_fn: Option<KeysFn<A>>,
    options: CreateOptions<T>,
    expiration: Option<ExpirationFn>,
    tags_fn: Option<TagsFn<A>>,
}

impl<A: KeyArgs, T> Keyed<A, T> {
    fn new(region: &Region, name: &str, generator: Option<&FunctionKeyGenerator>) -> Self {
        Keyed {
            region: region.clone(),
            name: name.to_owned(),
            namespace: None,
            prefix: format!("{name}|"),
            generator: generator.cloned(),
            key_fn: None,
            keys_fn: None,
            options: CreateOptions::new(),
            expiration: None,
            tags_fn: None,
        }
    }

    fn set_namespace(&mut self, namespace: &str) {
        self.prefix = format!("{}|{namespace}|", self.name);
        self.namespace = Some(namespace.to_owned());
    }

    /// The key of `args`: the function's own generator (a list generator's key for `args`
    /// alone), else the region's, else dogpile's.
    fn key(&self, args: &A) -> CacheKey {
        if let Some(keys_fn) = &self.keys_fn
            && let [key] = &keys_fn(std::slice::from_ref(args))[..]
        {
            return key.clone();
        }
        if let Some(key_fn) = &self.key_fn {
            return key_fn(args);
        }
        match &self.generator {
            Some(generator) => {
                let mut rendered = String::new();
                args.write_key(&mut rendered);
                let parts = FunctionKey { name: &self.name, namespace: self.namespace.as_deref(), args: &rendered };
                generator(&parts)
            }
            None => {
                let mut key = self.prefix.clone();
                args.write_key(&mut key);
                CacheKey::Plain(key)
            }
        }
    }

    /// The keys of a call's arguments, one per argument: from the list generator if the
    /// function has one, else one by one.
    fn keys(&self, args: &[A]) -> Result<Vec<CacheKey>> {
        let Some(keys_fn) = &self.keys_fn else {
            return Ok(args.iter().map(|a| self.key(a)).collect());
        };
        let keys = keys_fn(args);
        if keys.len() != args.len() {
            let message = format!("made {} keys for {} arguments of {}", keys.len(), args.len(), self.name);
            return Err(Error::config("function_multi_key_generator", message));
        }
        Ok(keys)
    }

    /// The options of one call: with an expiration function, its answer now.
    fn options(&self) -> Cow<'_, CreateOptions<T>> {
        match &self.expiration {
            None => Cow::Borrowed(&self.options),
            Some(expiration) => {
                let mut options = self.options.clone();
                options.expiry = Expiry::from_seconds(expiration());
                Cow::Owned(options)
            }
        }
    }

    /// The tags of each result of a call, by its key (`keys` are those of `args`).
    fn tags_by_key(&self, args: &[A], keys: &[CacheKey]) -> Option<HashMap<CacheKey, Vec<String>>> {
        let tags_fn = self.tags_fn.as_ref()?;
        Some(keys.iter().cloned().zip(args.iter().map(|a| tags_fn(a))).collect())
    }

    /// The options of a call for `args` (whose keys are `keys`), with their tags.
    fn options_for(&self, args: &[A], keys: &[CacheKey]) -> Cow<'_, CreateOptions<T>> {
        let options = self.options();
        match self.tags_by_key(args, keys) {
            None => options,
            Some(tags) => {
                Cow::Owned(options.into_owned().tags_by_key(move |k| tags.get(k).cloned().unwrap_or_default()))
            }
        }
    }

    /// The options of storing results for `args` (whose keys are `keys`): their tags.
    fn set_options_for(&self, args: &[A], keys: &[CacheKey]) -> SetOptions {
        match self.tags_by_key(args, keys) {
            None => SetOptions::new(),
            Some(tags) => SetOptions::new().tags_by_key(move |k| tags.get(k).cloned().unwrap_or_default()),
        }
    }
}

impl<A, T> fmt::Debug for Keyed<A, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyed")
            .field("prefix", &self.prefix)
            .field("generator", &self.generator.is_some())
            .field("key_fn", &self.key_fn.is_some())
            .field("keys_fn", &self.keys_fn.is_some())
            .field("options", &self.options)
            .field("expiration_fn", &self.expiration.is_some())
            .field("tags_fn", &self.tags_fn.is_some())
            .finish_non_exhaustive()
    }
}

/// The builder methods every function wrapper shares, over its `keyed` field.
macro_rules! keyed_settings {
    ($value:ty) => {
        /// Puts `namespace` into the keys: `name|namespace|args`.
        #[must_use]
        pub fn namespace(mut self, namespace: &str) -> Self {
            self.keyed.set_namespace(namespace);
            self
        }

        /// The options of the read-through calls (expiration time, `should_cache`, ...).
        #[must_use]
        pub fn options(mut self, options: CreateOptions<$value>) -> Self {
            self.keyed.options = options;
            self
        }

        /// Makes each key with `key_fn` from the arguments, instead of the region's key
        /// generator (dogpile's `function_key_generator` argument of the decorator).
        #[must_use]
        pub fn key_generator(mut self, key_fn: impl Fn(&A) -> CacheKey + Send + Sync + 'static) -> Self {
            self.keyed.key_fn = Some(std::sync::Arc::new(key_fn));
            self
        }

        /// Asks `expiration` for the expiration time at every call, caching or reading
        /// (dogpile's callable `expiration_time`): seconds, with dogpile's meaning of the
        /// number ([`CreateOptions::expiration_seconds`]): `-1` never expires, zero or below
        /// expires every value; `None` is the region's default.
        #[must_use]
        pub fn expiration_time_fn(mut self, expiration: impl Fn() -> Option<f64> + Send + Sync + 'static) -> Self {
            self.keyed.expiration = Some(std::sync::Arc::new(expiration));
            self
        }

        /// Writes each result with the tags `tags_fn` gives for its arguments, so that
        /// [`Region::invalidate_tags`](crate::Region::invalidate_tags) of one of them
        /// invalidates it.
        #[must_use]
        pub fn tags(mut self, tags_fn: impl Fn(&A) -> Vec<String> + Send + Sync + 'static) -> Self {
            self.keyed.tags_fn = Some(std::sync::Arc::new(tags_fn));
            self
        }

        /// The function as it was given, uncached (dogpile's `original`).
        pub fn original(&self) -> &F {
            &self.function
        }
    };
}
pub(crate) use keyed_settings;

/// The builder methods of the multi-key wrappers, over their `keyed` field.
macro_rules! multi_keyed_settings {
    () => {
        /// Makes the keys of a call with `keys_fn`, from the whole argument list, one key per
        /// argument in order (dogpile's `function_multi_key_generator` argument of the
        /// decorator): a key may depend on the call's other arguments. Takes the place of
        /// [`key_generator`](Self::key_generator); a call whose generator makes another
        /// number of keys than it has arguments is [`Error::Config`](crate::Error::Config).
        #[must_use]
        pub fn keys_generator(mut self, keys_fn: impl Fn(&[A]) -> Vec<CacheKey> + Send + Sync + 'static) -> Self {
            self.keyed.keys_fn = Some(std::sync::Arc::new(keys_fn));
            self
        }
    };
}
pub(crate) use multi_keyed_settings;
