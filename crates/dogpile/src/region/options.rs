//! Per-call options.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::FailSafe;
use crate::key::CacheKey;

/// An expiration time for one call: the region's default, a duration, or none.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) enum Expiry {
    #[default]
    RegionDefault,
    After(f64),
    Never,
}

impl Expiry {
    /// dogpile's number of seconds: none (or NaN) for the region's default, `-1` for never,
    /// any other number as it is, so that zero or a negative number expires every value.
    pub(crate) fn from_seconds(secs: Option<f64>) -> Self {
        match secs {
            None => Expiry::RegionDefault,
            Some(secs) if secs.is_nan() => Expiry::RegionDefault,
            Some(-1.0) => Expiry::Never,
            Some(secs) => Expiry::After(secs),
        }
    }

    pub(crate) fn resolve(self, region: Option<f64>) -> Option<f64> {
        match self {
            Expiry::RegionDefault => region,
            Expiry::After(secs) => Some(secs),
            Expiry::Never => None,
        }
    }
}

/// Options for [`Region::get_with`](crate::Region::get_with) and friends.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use dogpile::region::GetOptions;
///
/// let recent = GetOptions::new().expiration_time(Duration::from_secs(5));
/// let anything = GetOptions::new().ignore_expiration(true);
/// # let _ = (recent, anything);
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct GetOptions {
    pub(crate) expiry: Expiry,
    pub(crate) ignore_expiration: bool,
}

impl GetOptions {
    /// The region's defaults.
    pub fn new() -> Self {
        GetOptions::default()
    }

    /// Values older than `ttl` count as missing, whatever the region's expiration time.
    pub fn expiration_time(mut self, ttl: Duration) -> Self {
        self.expiry = Expiry::After(ttl.as_secs_f64());
        self
    }

    /// No expiration for this call.
    pub fn no_expiration(mut self) -> Self {
        self.expiry = Expiry::Never;
        self
    }

    /// Returns any stored value, expired or invalidated (dogpile's `ignore_expiration`).
    pub fn ignore_expiration(mut self, yes: bool) -> Self {
        self.ignore_expiration = yes;
        self
    }
}

/// A predicate that decides whether a created value is stored.
pub type ShouldCache<T> = Arc<dyn Fn(&T) -> bool + Send + Sync>;

/// Options for [`Region::get_or_create_with`](crate::Region::get_or_create_with) and the
/// multi and function-caching forms.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use dogpile::region::CreateOptions;
///
/// // Keep answers for a minute, and never cache a `None`.
/// let options = CreateOptions::<Option<u32>>::new()
///     .expiration_time(Duration::from_secs(60))
///     .should_cache(|value| value.is_some());
/// # let _ = options;
/// ```
#[must_use]
pub struct CreateOptions<T> {
    pub(crate) expiry: Expiry,
    pub(crate) should_cache: Option<ShouldCache<T>>,
    /// `None`: the region's setting.
    pub(crate) fail_safe: Option<Option<FailSafe>>,
    /// `None`: the region's setting.
    pub(crate) creator_timeout: Option<Option<Duration>>,
    /// `None`: the region's setting.
    pub(crate) soft_timeout: Option<Option<Duration>>,
    /// False: this call leaves out the region's early refresh.
    pub(crate) early_refresh: bool,
    /// False: this call leaves out the region's fail-open.
    pub(crate) fail_open: bool,
    /// The tags of each created value, by its key.
    pub(crate) tags: Option<TagsOf>,
}

/// The tags of a value, from its key.
pub(crate) type TagsOf = Arc<dyn Fn(&CacheKey) -> Vec<String> + Send + Sync>;

/// The tags `tags` give the value at `key` (none without any).
fn tags_at(tags: &Option<TagsOf>, key: &CacheKey) -> Vec<String> {
    tags.as_ref().map(|tags_of| tags_of(key)).unwrap_or_default()
}

/// The same tags for every key.
fn fixed_tags<S: Into<String>>(tags: impl IntoIterator<Item = S>) -> TagsOf {
    let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
    Arc::new(move |_| tags.clone())
}

impl<T> CreateOptions<T> {
    /// [`CreateOptions::new`] as a constant: a call without options borrows it from static
    /// memory, not from a copy its future carries.
    pub(crate) const DEFAULT: Self = CreateOptions {
        expiry: Expiry::RegionDefault,
        should_cache: None,
        fail_safe: None,
        creator_timeout: None,
        soft_timeout: None,
        early_refresh: true,
        fail_open: true,
        tags: None,
    };

    /// The region's defaults, and every created value stored.
    pub fn new() -> Self {
        Self::DEFAULT
    }

    /// Fail-safe for this call, whatever the region's (see [`FailSafe`]).
    pub fn fail_safe(mut self, fail_safe: FailSafe) -> Self {
        self.fail_safe = Some(Some(fail_safe));
        self
    }

    /// No fail-safe for this call: a failed regeneration is the caller's error.
    pub fn no_fail_safe(mut self) -> Self {
        self.fail_safe = Some(None);
        self
    }

    /// The hard creator timeout for this call (see
    /// [`RegionBuilder::creator_timeout`](crate::RegionBuilder::creator_timeout)).
    pub fn creator_timeout(mut self, timeout: Duration) -> Self {
        self.creator_timeout = Some(Some(timeout));
        self
    }

    /// No creator timeout for this call.
    pub fn no_creator_timeout(mut self) -> Self {
        self.creator_timeout = Some(None);
        self
    }

    /// No early refresh for this call, whatever the region's.
    pub fn no_early_refresh(mut self) -> Self {
        self.early_refresh = false;
        self
    }

    /// No fail-open for this call: a backend outage is the caller's error.
    pub fn no_fail_open(mut self) -> Self {
        self.fail_open = false;
        self
    }

    /// The soft timeout for this call (see
    /// [`RegionBuilder::soft_timeout`](crate::RegionBuilder::soft_timeout)).
    pub fn soft_timeout(mut self, timeout: Duration) -> Self {
        self.soft_timeout = Some(Some(timeout));
        self
    }

    /// Values older than `ttl` are regenerated.
    pub fn expiration_time(mut self, ttl: Duration) -> Self {
        self.expiry = Expiry::After(ttl.as_secs_f64());
        self
    }

    /// Values never expire in this call (dogpile's `expiration_time=-1`).
    pub fn no_expiration(mut self) -> Self {
        self.expiry = Expiry::Never;
        self
    }

    /// The expiration time as dogpile's `expiration_time` number: `-1` never expires, zero or
    /// any other negative number expires every value (each call regenerates), NaN keeps the
    /// region's default, and a positive number is seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::region::CreateOptions;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// let region = dogpile::Region::builder().build()?;
    /// let always = CreateOptions::new().expiration_seconds(0.0);
    /// let mut runs = 0;
    /// for _ in 0..3 {
    ///     region.get_or_create_with("k", &always, || { runs += 1; async { Ok::<_, std::io::Error>(1) } }).await?;
    /// }
    /// assert_eq!(runs, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn expiration_seconds(mut self, secs: f64) -> Self {
        self.expiry = Expiry::from_seconds(Some(secs));
        self
    }

    /// The same options for values of another type, with `should_cache` for them.
    pub(crate) fn for_type<U>(&self, should_cache: Option<ShouldCache<U>>) -> CreateOptions<U> {
        CreateOptions {
            expiry: self.expiry,
            should_cache,
            fail_safe: self.fail_safe,
            creator_timeout: self.creator_timeout,
            soft_timeout: self.soft_timeout,
            early_refresh: self.early_refresh,
            fail_open: self.fail_open,
            tags: self.tags.clone(),
        }
    }

    /// Writes the created values with `tags`: invalidating one of them
    /// ([`Region::invalidate_tags`](crate::Region::invalidate_tags)) invalidates the values.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::region::CreateOptions;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// let region = dogpile::Region::builder().build()?;
    /// let about_42 = CreateOptions::new().tags(["user:42"]);
    /// let name: String = region.get_or_create_with("user:42:name", &about_42, || async { Ok::<_, std::io::Error>("Ada".to_string()) }).await?;
    /// region.invalidate_tags(["user:42"], true).await?;
    /// assert_eq!(region.get::<String>("user:42:name").await?, None);
    /// # let _ = name;
    /// # Ok(())
    /// # }
    /// ```
    pub fn tags<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.tags = Some(fixed_tags(tags));
        self
    }

    /// Writes each created value with the tags `tags_of` gives for its key (for
    /// `get_or_create_multi`, where each key has its own).
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::CacheKey;
    /// use dogpile::region::CreateOptions;
    ///
    /// let by_user = CreateOptions::<String>::new().tags_by_key(|key: &CacheKey| vec![format!("owner:{key}")]);
    /// # let _ = by_user;
    /// ```
    pub fn tags_by_key(mut self, tags_of: impl Fn(&CacheKey) -> Vec<String> + Send + Sync + 'static) -> Self {
        self.tags = Some(Arc::new(tags_of));
        self
    }

    /// The tags of the value created for `key`.
    pub(crate) fn tags_for(&self, key: &CacheKey) -> Vec<String> {
        tags_at(&self.tags, key)
    }

    /// Stores a created value only when `predicate` returns true; the value is returned
    /// either way (dogpile's `should_cache_fn`).
    pub fn should_cache(mut self, predicate: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.should_cache = Some(Arc::new(predicate));
        self
    }

    pub(crate) fn wants(&self, value: &T) -> bool {
        self.should_cache.as_ref().is_none_or(|p| p(value))
    }
}

impl<T> Default for CreateOptions<T> {
    fn default() -> Self {
        CreateOptions::new()
    }
}

impl<T> Clone for CreateOptions<T> {
    fn clone(&self) -> Self {
        CreateOptions {
            expiry: self.expiry,
            should_cache: self.should_cache.clone(),
            fail_safe: self.fail_safe,
            creator_timeout: self.creator_timeout,
            soft_timeout: self.soft_timeout,
            early_refresh: self.early_refresh,
            fail_open: self.fail_open,
            tags: self.tags.clone(),
        }
    }
}

impl<T> fmt::Debug for CreateOptions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let CreateOptions {
            expiry,
            should_cache,
            fail_safe,
            creator_timeout,
            soft_timeout,
            early_refresh,
            fail_open,
            tags,
        } = self;
        f.debug_struct("CreateOptions")
            .field("expiry", expiry)
            .field("should_cache", &should_cache.is_some())
            .field("fail_safe", fail_safe)
            .field("creator_timeout", creator_timeout)
            .field("soft_timeout", soft_timeout)
            .field("early_refresh", early_refresh)
            .field("fail_open", fail_open)
            .field("tags", &tags.is_some())
            .finish()
    }
}

/// Options for [`Region::set_with`](crate::Region::set_with) and
/// [`Region::set_multi_with`](crate::Region::set_multi_with).
///
/// # Examples
///
/// ```
/// use dogpile::region::SetOptions;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> dogpile::Result<()> {
/// let region = dogpile::Region::builder().build()?;
/// region.set_with("user:42:name", &"Ada", SetOptions::new().tags(["user:42"])).await?;
/// region.invalidate_tags(["user:42"], true).await?;
/// assert_eq!(region.get::<String>("user:42:name").await?, None);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct SetOptions {
    pub(crate) tags: Option<TagsOf>,
}

impl SetOptions {
    /// No options: as [`Region::set`](crate::Region::set).
    pub fn new() -> Self {
        SetOptions::default()
    }

    /// Writes the values with `tags` (see [`CreateOptions::tags`]).
    pub fn tags<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.tags = Some(fixed_tags(tags));
        self
    }

    /// Writes each value with the tags `tags_of` gives for its key.
    pub fn tags_by_key(mut self, tags_of: impl Fn(&CacheKey) -> Vec<String> + Send + Sync + 'static) -> Self {
        self.tags = Some(Arc::new(tags_of));
        self
    }

    /// The tags of the value written at `key`.
    pub(crate) fn tags_for(&self, key: &CacheKey) -> Vec<String> {
        tags_at(&self.tags, key)
    }
}

impl fmt::Debug for SetOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetOptions").field("tags", &self.tags.is_some()).finish()
    }
}

/// A read-through call's options resolved against its region's settings: each choice between
/// the call's option and the region's default made once, here.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Seconds after which a value is expired; `None` never expires.
    pub(crate) expiration: Option<f64>,
    pub(crate) fail_safe: Option<FailSafe>,
    pub(crate) creator_timeout: Option<Duration>,
    pub(crate) soft_timeout: Option<Duration>,
    /// The region has early refresh and the call does not leave it out.
    pub(crate) early_refresh: bool,
}

impl Policy {
    /// The policy of a call with `options` on `region`.
    pub(crate) fn of<T>(region: &super::Inner, options: &CreateOptions<T>) -> Self {
        Policy {
            expiration: options.expiry.resolve(region.expiration),
            fail_safe: options.fail_safe.unwrap_or(region.fail_safe),
            creator_timeout: options.creator_timeout.unwrap_or(region.creator_timeout),
            soft_timeout: options.soft_timeout.unwrap_or(region.soft_timeout),
            early_refresh: options.early_refresh && region.early_refresh.is_some(),
        }
    }
}
