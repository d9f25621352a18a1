//! Building a region, in code or from configuration.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::invalidation::DefaultInvalidation;
use super::{
    EarlyRefresh, ErrorSink, FailOpen, FailOpenState, FailSafe, FunctionKey, FunctionKeys, Inner, InvalidationStrategy,
    KeyLogging, Region, Throttled, stats,
};
use crate::backend::{Backend, DynBackend, MemoryBackend, Proxied, ProxyBackend};
use crate::clock::{Clock, SystemClock};
use crate::codec::{Codec, DecodeErrorPolicy};
use crate::config::{Arguments, ConfigValue};
use crate::error::{Error, Result};
use crate::key::{CacheKey, KeyMangler};
use crate::mutex::LocalMutexMap;
use crate::registry;

/// A layer given to [`RegionBuilder::wrap`], put around the backend when the region is built.
type Wrapper = Box<dyn FnOnce(Arc<dyn DynBackend>) -> Arc<dyn DynBackend> + Send + Sync>;

enum BackendChoice {
    Default,
    Instance(Arc<dyn DynBackend>),
    Named(String, Arguments),
}

/// Builds a [`Region`] (dogpile's `make_region().configure(...)`).
///
/// # Examples
///
/// In code:
///
/// ```
/// use std::time::Duration;
/// use dogpile::backend::MemoryBackend;
/// use dogpile::codec::{Codec, Envelope, Format};
/// use dogpile::{KeyMangler, Region};
///
/// let region = Region::builder()
///     .name("users")
///     .backend(MemoryBackend::builder().capacity(10_000).build())
///     .expiration_time(Duration::from_secs(300))
///     .codec(Codec::new(Format::Json, Envelope::Dogpile1))
///     .key_mangler(KeyMangler::sha1_if_longer_than(200))
///     .build()?;
/// # Ok::<(), dogpile::Error>(())
/// ```
///
/// From a backend name and arguments, as dogpile's `configure` does:
///
/// ```
/// use dogpile::config::Arguments;
/// use dogpile::Region;
///
/// let args = Arguments::new().with("capacity", 1_000).with("serializer", "json");
/// let region = Region::builder().configure("dogpile.cache.memory", args).build()?;
/// assert_eq!(region.codec().format().name(), "json");
/// # Ok::<(), dogpile::Error>(())
/// ```
#[must_use]
pub struct RegionBuilder {
    name: Option<String>,
    backend: BackendChoice,
    codec: Option<Codec>,
    expiration: Option<Duration>,
    mangler: Option<KeyMangler>,
    clock: Arc<dyn Clock>,
    invalidator: Arc<dyn InvalidationStrategy>,
    decode_errors: DecodeErrorPolicy,
    error_sink: Option<ErrorSink>,
    fail_safe: Option<FailSafe>,
    creator_timeout: Option<Duration>,
    expiration_jitter: f64,
    fail_open: Option<FailOpen>,
    early_refresh: Option<Arc<EarlyRefresh>>,
    soft_timeout: Option<Duration>,
    key_logging: KeyLogging,
    layers: Vec<Wrapper>,
    function_keys: FunctionKeys,
    tag_retention: Option<Duration>,
}

/// A tag's invalidation is kept a day unless the region expires values later.
const DEFAULT_TAG_RETENTION: f64 = 86_400.0;

impl RegionBuilder {
    /// A builder with the defaults: memory backend, msgpack codec, no expiration.
    pub fn new() -> Self {
        RegionBuilder {
            name: None,
            backend: BackendChoice::Default,
            codec: None,
            expiration: None,
            mangler: None,
            clock: Arc::new(SystemClock),
            invalidator: Arc::new(DefaultInvalidation::default()),
            decode_errors: DecodeErrorPolicy::default(),
            error_sink: None,
            fail_safe: None,
            creator_timeout: None,
            expiration_jitter: 0.0,
            fail_open: None,
            early_refresh: None,
            soft_timeout: None,
            key_logging: KeyLogging::default(),
            layers: Vec::new(),
            function_keys: FunctionKeys::default(),
            tag_retention: None,
        }
    }

    /// How [`Region::cache_on_arguments`] makes keys from a function's name, namespace and
    /// arguments (dogpile's `function_key_generator` of `make_region`); a function's own
    /// [`key_generator`](crate::region::CachedFn::key_generator) still wins. The default is
    /// dogpile's: [`FunctionKey::dogpile_key`].
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::region::FunctionKey;
    ///
    /// let region = dogpile::Region::builder()
    ///     .function_key_generator(|k: &FunctionKey<'_>| format!("{}:{}", k.name, k.args.replace(' ', ",")).into())
    ///     .build()?;
    /// let add = region.cache_on_arguments("add", |(a, b): (u8, u8)| async move { Ok::<_, std::io::Error>(a + b) });
    /// assert_eq!(add.key(&(1, 2)).to_string(), "add:1,2");
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn function_key_generator(
        mut self,
        generator: impl Fn(&FunctionKey<'_>) -> CacheKey + Send + Sync + 'static,
    ) -> Self {
        self.function_keys.single = Some(Arc::new(generator));
        self
    }

    /// How [`Region::cache_multi_on_arguments`] and
    /// [`Region::cache_multi_on_arguments_asdict`] make each argument's key (dogpile's
    /// `function_multi_key_generator`); [`FunctionKey::args`] is the one argument's text.
    pub fn function_multi_key_generator(
        mut self,
        generator: impl Fn(&FunctionKey<'_>) -> CacheKey + Send + Sync + 'static,
    ) -> Self {
        self.function_keys.multi = Some(Arc::new(generator));
        self
    }

    /// How keys appear in the region's `tracing` events (with the `tracing` feature): as they
    /// are, hashed (the default), or left out.
    pub fn log_keys(mut self, how: KeyLogging) -> Self {
        self.key_logging = how;
        self
    }

    /// Names the region (for logs and `Debug`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Uses `backend`.
    ///
    /// Each of [`backend`](RegionBuilder::backend), [`backend_arc`](RegionBuilder::backend_arc)
    /// and [`configure`](RegionBuilder::configure) replaces the backend chosen before it:
    /// the builder's counterpart of dogpile's `replace_existing_backend=True`. Layers given
    /// to [`wrap`](RegionBuilder::wrap) go around whichever backend is chosen last. A built
    /// region keeps its backend; to change it, build a new region (its clones keep the old).
    pub fn backend(self, backend: impl Backend) -> Self {
        self.backend_arc(Arc::new(backend))
    }

    /// Uses a backend already behind an `Arc`.
    pub fn backend_arc(mut self, backend: Arc<dyn DynBackend>) -> Self {
        self.backend = BackendChoice::Instance(backend);
        self
    }

    /// Uses the backend registered as `name`, made from `arguments` (over the name's defaults)
    /// when the region is built. The arguments `compat`, `serializer`, `envelope` and
    /// `value_version` choose the codec ([`Codec::from_arguments`]) unless [`codec`] is called.
    ///
    /// [`codec`]: RegionBuilder::codec
    pub fn configure(mut self, name: &str, arguments: Arguments) -> Self {
        self.backend = BackendChoice::Named(name.to_owned(), arguments);
        self
    }

    /// Puts a layer around the backend (dogpile's `wrap=[...]`): the layer sees every call
    /// the region makes and may change it (see [`ProxyBackend`]). The first layer given is
    /// the outermost, as the first of dogpile's `wrap` list: with `.wrap(a).wrap(b)` a call
    /// goes through `a`, then `b`, then the backend. [`Region::backend`] is the outermost
    /// layer; [`Region::actual_backend`] the backend underneath.
    ///
    /// [`ProxyBackend`]: crate::backend::ProxyBackend
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::backend::ProxyBackend;
    ///
    /// #[derive(Debug)]
    /// struct Logging;
    /// impl ProxyBackend for Logging {}
    ///
    /// let region = dogpile::Region::builder().wrap(Logging).build()?;
    /// assert_eq!(region.actual_backend().name(), "memory");
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn wrap(mut self, layer: impl ProxyBackend) -> Self {
        self.layers.push(Box::new(move |next| Arc::new(Proxied::new(layer, next)) as Arc<dyn DynBackend>));
        self
    }

    /// Values older than `ttl` are expired (dogpile's `expiration_time`).
    pub fn expiration_time(mut self, ttl: Duration) -> Self {
        self.expiration = Some(ttl);
        self
    }

    /// The codec (default: msgpack in the seed's envelope).
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = Some(codec);
        self
    }

    /// Rewrites keys before they reach the backend. Without one, the region uses the
    /// backend's own ([`Backend::key_mangler`]), if it has one.
    pub fn key_mangler(mut self, mangler: KeyMangler) -> Self {
        self.mangler = Some(mangler);
        self
    }

    /// The time source (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The invalidation strategy (default: [`DefaultInvalidation`]).
    pub fn invalidation_strategy(mut self, strategy: impl InvalidationStrategy) -> Self {
        self.invalidator = Arc::new(strategy);
        self
    }

    /// What to do with stored bytes that do not decode (default: treat as a miss).
    pub fn on_decode_error(mut self, policy: DecodeErrorPolicy) -> Self {
        self.decode_errors = policy;
        self
    }

    /// Receives errors that no caller sees (background regeneration, storing a created
    /// value, releasing a lock). They are also emitted as `tracing` events with the
    /// `tracing` feature.
    pub fn on_background_error(mut self, sink: impl Fn(&Error) + Send + Sync + 'static) -> Self {
        self.error_sink = Some(Arc::new(sink));
        self
    }

    /// Serves an expired value when regenerating it fails (see [`FailSafe`]); calls can
    /// override it ([`CreateOptions::no_fail_safe`](crate::region::CreateOptions::no_fail_safe)).
    pub fn fail_safe(mut self, fail_safe: FailSafe) -> Self {
        self.fail_safe = Some(fail_safe);
        self
    }

    /// Gives up on a creator that runs longer than `timeout`: the caller gets
    /// [`Error::CreatorTimeout`] (or, under [fail-safe](RegionBuilder::fail_safe), the expired
    /// value), the creator's future is dropped and the key's lock released. Off by default.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// let region = dogpile::Region::builder().creator_timeout(Duration::from_millis(10)).build()?;
    /// let slow = region
    ///     .get_or_create("k", || async {
    ///         tokio::time::sleep(Duration::from_secs(5)).await;
    ///         Ok::<_, std::io::Error>(1)
    ///     })
    ///     .await;
    /// assert!(slow.unwrap_err().is_timeout());
    /// # Ok(())
    /// # }
    /// ```
    pub fn creator_timeout(mut self, timeout: Duration) -> Self {
        self.creator_timeout = Some(timeout);
        self
    }

    /// Keeps `get_or_create` serving from its creator while the backend is unreachable, with
    /// a circuit breaker (see [`FailOpen`]). Off by default.
    pub fn fail_open(mut self, fail_open: FailOpen) -> Self {
        self.fail_open = Some(fail_open);
        self
    }

    /// How long [`Region::get_or_create_in_background`] waits for the regeneration of an
    /// expired value before it serves the expired value: a regeneration that finishes in time
    /// is returned fresh; a slower one goes on in the background and stores its value. Without
    /// it (the default) the expired value is returned at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // A quick database answers callers fresh; a slow one does not hold them past 50 ms.
    /// let region = dogpile::Region::builder()
    ///     .expiration_time(Duration::from_secs(60))
    ///     .soft_timeout(Duration::from_millis(50))
    ///     .build()?;
    /// # let _ = region;
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn soft_timeout(mut self, timeout: Duration) -> Self {
        self.soft_timeout = Some(timeout);
        self
    }

    /// Regenerates hot values in the background shortly before they expire (XFetch; see
    /// [`EarlyRefresh`]). Off by default.
    pub fn early_refresh(mut self, early_refresh: EarlyRefresh) -> Self {
        self.early_refresh = Some(Arc::new(early_refresh));
        self
    }

    /// Spreads expiry: each entry expires early by up to `fraction` (0 to 1) of its
    /// expiration time, by an amount fixed for that entry, so that values written together
    /// (a warm-up, a `set_multi`) are not all regenerated together. Off (0) by default. With
    /// Redis, `redis_expiration_time_jitter` spreads the Redis TTLs the same way.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // Values expire between 48 and 60 seconds after their creation.
    /// let region = dogpile::Region::builder()
    ///     .expiration_time(Duration::from_secs(60))
    ///     .expiration_jitter(0.2)
    ///     .build()?;
    /// # let _ = region;
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn expiration_jitter(mut self, fraction: f64) -> Self {
        self.expiration_jitter = fraction;
        self
    }

    /// Builds the region.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an unknown backend name or codec name, an expiration jitter that
    /// is not a fraction, or the backend factory's error for invalid arguments.
    pub fn build(self) -> Result<Region> {
        self.check()?;
        let (backend, codec) = match &self.backend {
            BackendChoice::Default => (Arc::new(MemoryBackend::default()) as Arc<dyn DynBackend>, self.codec.clone()),
            BackendChoice::Instance(backend) => (Arc::clone(backend), self.codec.clone()),
            BackendChoice::Named(name, args) => {
                let (backend, codec) = named_backend(name, args, self.codec.clone())?;
                (backend, Some(codec))
            }
        };
        let actual = backend;
        // The last layer given is the innermost: wrap from the backend outward.
        let mut backend = Arc::clone(&actual);
        for layer in self.layers.into_iter().rev() {
            backend = layer(backend);
        }
        let mangler = self.mangler.clone().or_else(|| DynBackend::key_mangler(&*actual));
        let expiration = self.expiration.map(|d| d.as_secs_f64());
        let codec = codec.unwrap_or_default();
        let locks = LocalMutexMap::new();
        let retention = match self.tag_retention {
            Some(retention) => retention.as_secs_f64(),
            None => expiration.map_or(DEFAULT_TAG_RETENTION, |e| e.max(DEFAULT_TAG_RETENTION)),
        };
        let tags = super::tags::Tags::new(DynBackend::tag_store(&*actual), retention);
        // One set of counters for the region and for the stand-in store of fail-open, whose
        // outcomes and creator runs are the region's.
        let stats = Arc::new(stats::Counters::new(self.name.as_deref().unwrap_or(""), DynBackend::name(&*backend)));
        let inner =
            |backend: Arc<dyn DynBackend>, actual: Arc<dyn DynBackend>, fail_open: Option<FailOpenState>| Inner {
                name: self.name.clone(),
                capabilities: DynBackend::capabilities(&*backend),
                codec: codec.clone(),
                expiration,
                mangler: mangler.clone(),
                clock: Arc::clone(&self.clock),
                invalidator: Arc::clone(&self.invalidator),
                locks: Arc::clone(&locks),
                decode_errors: self.decode_errors,
                error_sink: self.error_sink.clone(),
                stats: Arc::clone(&stats),
                fail_safe: self.fail_safe,
                creator_timeout: self.creator_timeout,
                throttled: Throttled::default(),
                expiration_jitter: self.expiration_jitter,
                fail_open,
                early_refresh: self.early_refresh.clone(),
                soft_timeout: self.soft_timeout,
                key_logging: self.key_logging,
                function_keys: self.function_keys.clone(),
                tags: Arc::clone(&tags),
                #[cfg(feature = "tracing")]
                spanned: Arc::new(crate::backend::traced::Traced(Arc::clone(&backend))),
                #[cfg(not(feature = "tracing"))]
                spanned: Arc::clone(&backend),
                backend,
                actual,
            };
        // Under fail-open, a region over the in-process stand-in store, sharing the
        // in-process locks, serves while the backend is away.
        let fail_open = self.fail_open.map(|settings| {
            FailOpenState::new(settings, |store| {
                let store: Arc<dyn DynBackend> = store;
                Region { inner: Arc::new(inner(Arc::clone(&store), store, None)) }
            })
        });
        Ok(Region { inner: Arc::new(inner(backend, actual, fail_open)) })
    }

    /// How long a tag's invalidation is kept, and so how long a tagged value lives at most
    /// (a tagged value older than this counts as expired): one day, or the region's expiration
    /// time when that is longer. See [`Region::invalidate_tags`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let region = dogpile::Region::builder().tag_retention(Duration::from_secs(7 * 86_400)).build()?;
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn tag_retention(mut self, retention: Duration) -> Self {
        self.tag_retention = Some(retention);
        self
    }

    /// Refuses settings no region can run with.
    fn check(&self) -> Result<()> {
        if let Some(early) = &self.early_refresh
            && !(early.beta > 0.0 && early.beta.is_finite())
        {
            return Err(Error::config("early_refresh", format!("beta {} must be a number greater than 0", early.beta)));
        }
        if !(0.0..1.0).contains(&self.expiration_jitter) {
            return Err(Error::config(
                "expiration_jitter",
                format!("{} is not a fraction: give a number from 0 up to (not including) 1", self.expiration_jitter),
            ));
        }
        Ok(())
    }

    /// A builder from flat string settings, as dogpile's `configure_from_config` reads them:
    /// `{prefix}backend`, `{prefix}expiration_time` (seconds, or a duration with units such as
    /// `"5m"` or `"1h 30m"`) and `{prefix}arguments.NAME`.
    /// Values are coerced like dogpile's `coerce_string_conf`; other keys are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::Region;
    ///
    /// let settings = [
    ///     ("cache.local.backend", "dogpile.cache.memory"),
    ///     ("cache.local.expiration_time", "60"),
    ///     ("cache.local.arguments.capacity", "5000"),
    /// ];
    /// let region = Region::builder_from_config(settings, "cache.local.")?.build()?;
    /// assert_eq!(region.expiration_time(), Some(60.0));
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the setting when `backend` is missing or `expiration_time` is
    /// neither a number of seconds nor a duration.
    pub fn from_config<K: AsRef<str>, V: AsRef<str>>(
        settings: impl IntoIterator<Item = (K, V)>,
        prefix: &str,
    ) -> Result<Self> {
        let arg_prefix = format!("{prefix}arguments.");
        let mut backend = None;
        let mut expiration = ConfigValue::None;
        let mut arguments = Arguments::new();
        for (key, value) in settings {
            let (key, value) = (key.as_ref(), value.as_ref());
            if let Some(arg) = key.strip_prefix(arg_prefix.as_str()) {
                arguments.insert(arg, ConfigValue::coerce(value));
            } else if let Some(rest) = key.strip_prefix(prefix) {
                match rest {
                    "backend" => backend = Some(value.trim().to_owned()),
                    "expiration_time" => expiration = ConfigValue::coerce(value),
                    _ => {}
                }
            }
        }
        let backend = backend.ok_or_else(|| Error::config(format!("{prefix}backend"), "missing: name the backend"))?;
        RegionBuilder::new()
            .configure(&backend, arguments)
            .with_expiration_value(&expiration, &format!("{prefix}expiration_time"))
    }

    /// Sets the expiration from a configured value: seconds as a number, a duration with units
    /// as text (`"90s"`, `"1h 30m"`, read by humantime), or `-1` (or none) for no expiration.
    pub(crate) fn with_expiration_value(mut self, value: &ConfigValue, name: &str) -> Result<Self> {
        let secs = match value {
            ConfigValue::None => return Ok(self),
            ConfigValue::Int(n) => *n as f64,
            ConfigValue::Float(x) => *x,
            ConfigValue::Str(text) => {
                self.expiration = Some(crate::config::duration_text(name, text)?);
                return Ok(self);
            }
            other => return Err(Error::config(name, format!("expected a number of seconds, got {other:?}"))),
        };
        if secs == -1.0 {
            return Ok(self);
        }
        self.expiration = Some(
            Duration::try_from_secs_f64(secs)
                .map_err(|_| Error::config(name, format!("expected a non-negative number of seconds, got {secs}")))?,
        );
        Ok(self)
    }
}

/// The backend registered as `name`, with the codec its arguments name (or `codec`, when the
/// builder was given one); unused arguments are warned about.
fn named_backend(name: &str, args: &Arguments, codec: Option<Codec>) -> Result<(Arc<dyn DynBackend>, Codec)> {
    let args = registry::arguments_for(name, args)?;
    let codec = match codec {
        Some(codec) => codec,
        None => Codec::from_arguments(&args)?,
    };
    let backend = registry::make_backend(name, &args)?;
    registry::warn_unused(name, &args);
    Ok((backend, codec))
}

impl Default for RegionBuilder {
    fn default() -> Self {
        RegionBuilder::new()
    }
}

impl Region {
    /// [`RegionBuilder::from_config`].
    ///
    /// # Errors
    ///
    /// As [`RegionBuilder::from_config`].
    pub fn builder_from_config<K: AsRef<str>, V: AsRef<str>>(
        settings: impl IntoIterator<Item = (K, V)>,
        prefix: &str,
    ) -> Result<RegionBuilder> {
        RegionBuilder::from_config(settings, prefix)
    }
}

impl fmt::Debug for RegionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match &self.backend {
            BackendChoice::Default => "memory (default)".to_owned(),
            BackendChoice::Instance(b) => DynBackend::name(&**b).to_owned(),
            BackendChoice::Named(name, args) => format!("{name} {args:?}"),
        };
        f.debug_struct("RegionBuilder")
            .field("name", &self.name)
            .field("backend", &backend)
            .field("codec", &self.codec)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "toml")]
mod toml_config {
    use super::*;

    fn to_config(value: &toml::Value) -> ConfigValue {
        match value {
            toml::Value::String(s) => ConfigValue::Str(s.clone()),
            toml::Value::Integer(n) => ConfigValue::Int(*n),
            toml::Value::Float(x) => ConfigValue::Float(*x),
            toml::Value::Boolean(b) => ConfigValue::Bool(*b),
            toml::Value::Table(t) => ConfigValue::Map(to_arguments(t)),
            toml::Value::Array(items) => ConfigValue::List(items.iter().map(to_config).collect()),
            toml::Value::Datetime(d) => ConfigValue::Str(d.to_string()),
        }
    }

    fn to_arguments(table: &toml::Table) -> Arguments {
        let mut args = Arguments::new();
        for (k, v) in table {
            args.insert(k.clone(), to_config(v));
        }
        args
    }

    impl RegionBuilder {
        /// A builder from TOML text: the table at `table` (dotted path; `""` for the top level)
        /// holds `backend`, `expiration_time` (seconds, or a duration with units such as `"5m"`)
        /// and an `arguments` table.
        ///
        /// # Examples
        ///
        /// ```
        /// let text = r#"
        ///     [cache.users]
        ///     backend = "memory"
        ///     expiration_time = 300
        ///     arguments = { capacity = 10000, serializer = "json", unknown_key = "ignored" }
        /// "#;
        /// let region = dogpile::RegionBuilder::from_toml_str(text, "cache.users")?.build()?;
        /// assert_eq!(region.expiration_time(), Some(300.0));
        /// # Ok::<(), dogpile::Error>(())
        /// ```
        ///
        /// # Errors
        ///
        /// [`Error::Config`] for TOML that does not parse, a missing table or `backend`, or a
        /// value of the wrong type (naming it).
        pub fn from_toml_str(text: &str, table: &str) -> Result<Self> {
            let root: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::config("toml", e.to_string()))?;
            let mut current = &root;
            for part in table.split('.').filter(|p| !p.is_empty()) {
                current = match current.get(part) {
                    Some(toml::Value::Table(t)) => t,
                    _ => return Err(Error::config(table, "no such table in the TOML text")),
                };
            }
            let at = |name: &str| if table.is_empty() { name.to_owned() } else { format!("{table}.{name}") };
            let backend = match current.get("backend") {
                Some(toml::Value::String(s)) => s.clone(),
                Some(other) => {
                    return Err(Error::config(at("backend"), format!("expected a string, got {}", other.type_str())));
                }
                None => return Err(Error::config(at("backend"), "missing: name the backend")),
            };
            let arguments = match current.get("arguments") {
                None => Arguments::new(),
                Some(toml::Value::Table(t)) => to_arguments(t),
                Some(other) => {
                    return Err(Error::config(at("arguments"), format!("expected a table, got {}", other.type_str())));
                }
            };
            let expiration = current.get("expiration_time").map(to_config).unwrap_or(ConfigValue::None);
            RegionBuilder::new()
                .configure(&backend, arguments)
                .with_expiration_value(&expiration, &at("expiration_time"))
        }

        /// [`RegionBuilder::from_toml_str`] on the contents of the file at `path`.
        ///
        /// # Errors
        ///
        /// [`Error::Config`] when the file cannot be read, or as [`RegionBuilder::from_toml_str`].
        pub fn from_toml_file(path: impl AsRef<std::path::Path>, table: &str) -> Result<Self> {
            let path = path.as_ref();
            let text =
                std::fs::read_to_string(path).map_err(|e| Error::config(path.display().to_string(), e.to_string()))?;
            RegionBuilder::from_toml_str(&text, table)
        }
    }
}
