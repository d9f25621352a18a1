//! Backends by name, and configuration arguments (dogpile's `register_backend`,
//! `configure(name, arguments={...})` and `configure_from_config`).
//!
//! `memory` and `null` are registered from the start (also as `dogpile.cache.memory` and
//! `dogpile.cache.null`); other crates add theirs with [`register_backend`].
//!
//! # Examples
//!
//! ```
//! use dogpile::registry::{self, Arguments};
//!
//! let args = Arguments::new().with("capacity", 1_000);
//! let backend = registry::make_backend("memory", &args)?;
//! assert_eq!(backend.name(), "memory");
//! # Ok::<(), dogpile::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use crate::backend::{DynBackend, MemoryBackend, NullBackend};
use crate::error::{Error, Result};

/// A configuration value.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigValue {
    /// No value (Python's `None`).
    None,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<ConfigValue>),
    /// A nested table.
    Map(Arguments),
}

impl ConfigValue {
    fn type_name(&self) -> &'static str {
        match self {
            ConfigValue::None => "none",
            ConfigValue::Bool(_) => "a boolean",
            ConfigValue::Int(_) => "an integer",
            ConfigValue::Float(_) => "a float",
            ConfigValue::Str(_) => "a string",
            ConfigValue::List(_) => "a list",
            ConfigValue::Map(_) => "a table",
        }
    }

    /// Reads a string the way dogpile's `coerce_string_conf` does: integers, floats,
    /// `true`/`false` (any case) and `None` become typed values; anything else stays a string.
    pub fn coerce(text: &str) -> ConfigValue {
        let t = text.trim();
        let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
        if !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = t.parse::<i64>()
        {
            return ConfigValue::Int(n);
        }
        let looks_numeric = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
            && digits.bytes().any(|b| b.is_ascii_digit());
        if looks_numeric && let Ok(x) = t.parse::<f64>() {
            return ConfigValue::Float(x);
        }
        match t.to_ascii_lowercase().as_str() {
            "true" => ConfigValue::Bool(true),
            "false" => ConfigValue::Bool(false),
            _ if t == "None" => ConfigValue::None,
            _ => ConfigValue::Str(t.to_owned()),
        }
    }
}

impl fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::None => f.write_str("None"),
            ConfigValue::Bool(b) => write!(f, "{b}"),
            ConfigValue::Int(n) => write!(f, "{n}"),
            ConfigValue::Float(x) => write!(f, "{x:?}"),
            ConfigValue::Str(s) => write!(f, "{s:?}"),
            ConfigValue::List(l) => f.debug_list().entries(l).finish(),
            ConfigValue::Map(m) => write!(f, "{m:?}"),
        }
    }
}

macro_rules! config_from {
    ($($t:ty => $variant:ident as $conv:ty),* $(,)?) => {$(
        impl From<$t> for ConfigValue {
            fn from(v: $t) -> Self {
                ConfigValue::$variant(<$conv>::from(v))
            }
        }
    )*};
}
config_from!(bool => Bool as bool, i32 => Int as i64, i64 => Int as i64, u32 => Int as i64, f64 => Float as f64, &str => Str as String, String => Str as String);

impl From<Arguments> for ConfigValue {
    fn from(v: Arguments) -> Self {
        ConfigValue::Map(v)
    }
}

/// Named configuration arguments for a backend (dogpile's `arguments` dictionary).
///
/// Getters return `Ok(None)` for a missing key and [`Error::Config`] naming the key for a value
/// of the wrong type. Keys nobody asks for are ignored. `Debug` output hides passwords,
/// secrets, tokens and the credentials inside URLs.
#[derive(Clone, Default, PartialEq)]
pub struct Arguments {
    values: BTreeMap<String, ConfigValue>,
}

impl Arguments {
    /// No arguments.
    pub fn new() -> Self {
        Arguments::default()
    }

    /// Adds an argument (builder style).
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<ConfigValue>) -> Self {
        self.insert(key, value);
        self
    }

    /// Adds or replaces an argument.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<ConfigValue>) {
        self.values.insert(key.into(), value.into());
    }

    /// Arguments from string pairs, coerced with [`ConfigValue::coerce`].
    pub fn from_strings<K: Into<String>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Arguments { values: pairs.into_iter().map(|(k, v)| (k.into(), ConfigValue::coerce(v.as_ref()))).collect() }
    }

    /// The raw value at `key`.
    pub fn get(&self, key: &str) -> Option<&ConfigValue> {
        self.values.get(key)
    }

    /// True when `key` is present and not `None`.
    pub fn contains(&self, key: &str) -> bool {
        !matches!(self.get(key), None | Some(ConfigValue::None))
    }

    /// Every argument, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ConfigValue)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    fn typed<'a, T>(
        &'a self,
        key: &str,
        expected: &str,
        f: impl FnOnce(&'a ConfigValue) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(key) {
            None | Some(ConfigValue::None) => Ok(None),
            Some(value) => f(value).map(Some).ok_or_else(|| {
                Error::config(
                    key,
                    format!("expected {expected}, got {} ({})", value.type_name(), redact_value(key, value)),
                )
            }),
        }
    }

    /// A boolean (`true`/`false`, or the strings of them).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `key` for any other value.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>> {
        self.typed(key, "a boolean", |v| match v {
            ConfigValue::Bool(b) => Some(*b),
            ConfigValue::Str(s) => match ConfigValue::coerce(s) {
                ConfigValue::Bool(b) => Some(b),
                _ => None,
            },
            _ => None,
        })
    }

    /// A non-negative integer.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `key` for any other value.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>> {
        self.typed(key, "a non-negative integer", |v| match v {
            ConfigValue::Int(n) => u64::try_from(*n).ok(),
            ConfigValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        })
    }

    /// A number (integer or float).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `key` for any other value.
    pub fn get_f64(&self, key: &str) -> Result<Option<f64>> {
        self.typed(key, "a number", |v| match v {
            ConfigValue::Int(n) => Some(*n as f64),
            ConfigValue::Float(x) => Some(*x),
            ConfigValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        })
    }

    /// A duration: a number of seconds (fractions allowed), as dogpile's arguments take them,
    /// or a string with units as `humantime` reads it (`"300ms"`, `"1.5s"`, `"1h 30m"`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `key` for a value that is neither a non-negative number nor
    /// such a string.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use dogpile::registry::Arguments;
    ///
    /// let args = Arguments::new().with("a", 1.5).with("b", "1h 30m").with("c", "300ms");
    /// assert_eq!(args.get_seconds("a")?, Some(Duration::from_millis(1500)));
    /// assert_eq!(args.get_seconds("b")?, Some(Duration::from_secs(5400)));
    /// assert_eq!(args.get_seconds("c")?, Some(Duration::from_millis(300)));
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn get_seconds(&self, key: &str) -> Result<Option<Duration>> {
        if let Some(ConfigValue::Str(text)) = self.get(key)
            && text.trim().parse::<f64>().is_err()
        {
            return humantime::parse_duration(text.trim()).map(Some).map_err(|e| {
                Error::config(key, format!("expected seconds or a duration such as \"300ms\" or \"1h 30m\": {e}"))
            });
        }
        match self.get_f64(key)? {
            None => Ok(None),
            Some(secs) => Duration::try_from_secs_f64(secs)
                .map(Some)
                .map_err(|_| Error::config(key, format!("expected a non-negative number of seconds, got {secs}"))),
        }
    }

    /// A string.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `key` for a value that is not a string.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>> {
        self.typed(key, "a string", |v| match v {
            ConfigValue::Str(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// A list of strings; a single string is a list of one.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `key` for any other value.
    pub fn get_str_list(&self, key: &str) -> Result<Option<Vec<String>>> {
        self.typed(key, "a string or a list of strings", |v| match v {
            ConfigValue::Str(s) => Some(vec![s.clone()]),
            ConfigValue::List(items) => items
                .iter()
                .map(|item| match item {
                    ConfigValue::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => None,
        })
    }

    /// A nested table.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `key` for a value that is not a table.
    pub fn get_map(&self, key: &str) -> Result<Option<&Arguments>> {
        self.typed(key, "a table", |v| match v {
            ConfigValue::Map(m) => Some(m),
            _ => None,
        })
    }
}

impl fmt::Debug for Arguments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in &self.values {
            map.entry(key, &DebugRedacted(key, value));
        }
        map.finish()
    }
}

struct DebugRedacted<'a>(&'a str, &'a ConfigValue);

impl fmt::Debug for DebugRedacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_value(self.0, self.1))
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "passwd", "secret", "token", "credential"].iter().any(|s| key.contains(s))
}

fn redact_value(key: &str, value: &ConfigValue) -> String {
    match value {
        _ if is_secret_key(key) => "\"<redacted>\"".to_owned(),
        ConfigValue::Str(s) if s.contains("://") => format!("{:?}", redact_url(s)),
        other => format!("{other:?}"),
    }
}

/// What [`redact_url`] shows for text that holds credentials but does not parse as a URL.
pub const UNPARSABLE_URL: &str = "<a URL that does not parse>";

/// `url` with its credentials replaced by `<redacted>`, rebuilt from its parsed form (the
/// `url` crate's, the WHATWG URL standard).
///
/// A plain user name (letters, digits, `_`, `-`, `.`) beside a password is kept; any other
/// user info is hidden whole. The values of query parameters named like secrets (`password`,
/// `token`, ...) are hidden too, and a fragment is. Text that does not parse as a URL is never
/// echoed back when it could hold credentials (an `@`, `?` or `#` in it), nor is a URL with an
/// `@` in its path, query or fragment (user info that an unescaped `/`, `?` or `#` cut short):
/// both show as [`UNPARSABLE_URL`]. Escape such characters in a password (`%2F`, `%3F`, `%23`).
///
/// # Examples
///
/// ```
/// use dogpile::registry::{UNPARSABLE_URL, redact_url};
///
/// assert_eq!(redact_url("redis://user:hunter2@cache:6379/0"), "redis://user:<redacted>@cache:6379/0");
/// assert_eq!(redact_url("redis://:s3cret%2Fx@127.0.0.1:1/0"), "redis://<redacted>@127.0.0.1:1/0");
/// assert_eq!(redact_url("redis://:s3cret/x#y@127.0.0.1:1/0"), UNPARSABLE_URL);
/// assert_eq!(redact_url("cache:6379"), "cache:6379");
/// ```
pub fn redact_url(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        let may_hold_credentials = url.contains(['@', '?', '#']);
        return if may_hold_credentials { UNPARSABLE_URL.to_owned() } else { url.to_owned() };
    };
    // An `@` after the authority is the end of user info that an unescaped `/`, `?` or `#`
    // cut short: what came before it would show as path, query or fragment.
    let tail = [Some(parsed.path()), parsed.query(), parsed.fragment()];
    if tail.into_iter().flatten().any(|part| part.contains('@') || part.contains("%40")) {
        return UNPARSABLE_URL.to_owned();
    }
    let mut shown = format!("{}:", parsed.scheme());
    if parsed.has_authority() {
        shown.push_str("//");
    }
    let (user, password) = (parsed.username(), parsed.password());
    let plain_user = |user: &str| {
        !user.is_empty()
            && user.len() <= 64
            && user.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    match password {
        Some(password) if !password.is_empty() && plain_user(user) => shown.push_str(&format!("{user}:<redacted>@")),
        _ if !user.is_empty() || password.is_some() => shown.push_str("<redacted>@"),
        _ => {}
    }
    if let Some(host) = parsed.host_str() {
        shown.push_str(host);
    }
    if let Some(port) = parsed.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(parsed.path());
    if parsed.query().is_some() {
        let pairs: Vec<String> = parsed
            .query_pairs()
            .map(
                |(key, value)| if is_secret_key(&key) { format!("{key}=<redacted>") } else { format!("{key}={value}") },
            )
            .collect();
        shown.push('?');
        shown.push_str(&pairs.join("&"));
    }
    if parsed.fragment().is_some() {
        shown.push_str("#<redacted>");
    }
    shown
}

/// Makes a backend from its configuration arguments.
pub type BackendFactory = Arc<dyn Fn(&Arguments) -> Result<Arc<dyn DynBackend>> + Send + Sync>;

/// A registered backend: how to make it, and the arguments its name implies.
#[derive(Clone)]
struct Entry {
    factory: BackendFactory,
    defaults: Arguments,
}

fn registry() -> &'static RwLock<HashMap<String, Entry>> {
    static REGISTRY: OnceLock<RwLock<HashMap<String, Entry>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let memory: BackendFactory = Arc::new(|args| Ok(Arc::new(MemoryBackend::from_arguments(args)?)));
        let null: BackendFactory = Arc::new(|_| Ok(Arc::new(NullBackend)));
        let mut map = HashMap::new();
        for name in ["memory", "dogpile.cache.memory"] {
            map.insert(name.to_owned(), Entry { factory: Arc::clone(&memory), defaults: Arguments::new() });
        }
        for name in ["null", "dogpile.cache.null"] {
            map.insert(name.to_owned(), Entry { factory: Arc::clone(&null), defaults: Arguments::new() });
        }
        RwLock::new(map)
    })
}

/// Registers `factory` under `name`, replacing any earlier one.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use dogpile::backend::MemoryBackend;
/// use dogpile::registry::{self, Arguments};
///
/// registry::register_backend("my_memory", |_args: &Arguments| Ok(Arc::new(MemoryBackend::default())));
/// assert!(registry::make_backend("my_memory", &Arguments::new()).is_ok());
/// ```
pub fn register_backend<F>(name: &str, factory: F)
where
    F: Fn(&Arguments) -> Result<Arc<dyn DynBackend>> + Send + Sync + 'static,
{
    register_backend_with_defaults(name, Arguments::new(), factory);
}

/// Registers `factory` under `name` with arguments that the name implies (dogpile's backends
/// bring their own serializer; `dogpile.cache.redis` implies `compat = "dogpile-1"`, say).
/// The arguments a region is configured with override them key by key.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use dogpile::backend::MemoryBackend;
/// use dogpile::registry::{self, Arguments};
///
/// registry::register_backend_with_defaults("json_memory", Arguments::new().with("serializer", "json"), |args| {
///     Ok(Arc::new(MemoryBackend::from_arguments(args)?))
/// });
/// let region = dogpile::Region::builder().configure("json_memory", Arguments::new()).build()?;
/// assert_eq!(region.codec().format().name(), "json");
/// # Ok::<(), dogpile::Error>(())
/// ```
pub fn register_backend_with_defaults<F>(name: &str, defaults: Arguments, factory: F)
where
    F: Fn(&Arguments) -> Result<Arc<dyn DynBackend>> + Send + Sync + 'static,
{
    let mut map = registry().write().unwrap_or_else(|p| p.into_inner());
    map.insert(name.to_owned(), Entry { factory: Arc::new(factory), defaults });
}

/// The registered backend names, sorted.
pub fn registered_backends() -> Vec<String> {
    let map = registry().read().unwrap_or_else(|p| p.into_inner());
    let mut names: Vec<String> = map.keys().cloned().collect();
    names.sort();
    names
}

fn entry(name: &str) -> Result<Entry> {
    let found = {
        let map = registry().read().unwrap_or_else(|p| p.into_inner());
        map.get(name).cloned()
    };
    found.ok_or_else(|| {
        Error::config("backend", format!("unknown backend {name:?}; registered: {}", registered_backends().join(", ")))
    })
}

/// The arguments a backend registered as `name` is made from: the name's defaults, overridden
/// by `args`.
///
/// # Errors
///
/// [`Error::Config`] for an unknown name (listing the known ones).
pub fn arguments_for(name: &str, args: &Arguments) -> Result<Arguments> {
    let mut merged = entry(name)?.defaults;
    for (key, value) in args.iter() {
        merged.insert(key, value.clone());
    }
    Ok(merged)
}

/// Makes the backend registered as `name` from `args` (over the name's defaults).
///
/// # Errors
///
/// [`Error::Config`] for an unknown name (listing the known ones), or the factory's error.
pub fn make_backend(name: &str, args: &Arguments) -> Result<Arc<dyn DynBackend>> {
    let Entry { factory, defaults } = entry(name)?;
    if defaults.iter().next().is_none() {
        return factory(args);
    }
    factory(&arguments_for(name, args)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coerce_like_dogpile() {
        assert_eq!(ConfigValue::coerce(" 42 "), ConfigValue::Int(42));
        assert_eq!(ConfigValue::coerce("-1"), ConfigValue::Int(-1));
        assert_eq!(ConfigValue::coerce("1.5"), ConfigValue::Float(1.5));
        assert_eq!(ConfigValue::coerce("True"), ConfigValue::Bool(true));
        assert_eq!(ConfigValue::coerce("None"), ConfigValue::None);
        assert_eq!(ConfigValue::coerce("redis://h"), ConfigValue::Str("redis://h".into()));
        assert_eq!(ConfigValue::coerce("e"), ConfigValue::Str("e".into()));
    }

    #[test]
    fn wrong_type_names_the_key() {
        let args = Arguments::new().with("capacity", "lots");
        let err = args.get_u64("capacity").unwrap_err();
        assert!(err.to_string().contains("`capacity`"), "{err}");
    }

    #[test]
    fn debug_hides_secrets() {
        let args = Arguments::new().with("password", "hunter2").with("url", "redis://:hunter2@h:1/0");
        let shown = format!("{args:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let err = Arguments::new().with("password", 5).get_str("password").unwrap_err().to_string();
        assert!(!err.contains('5'), "{err}");
    }

    #[test]
    fn durations_in_seconds_or_with_units() {
        let args = Arguments::new()
            .with("plain", "2.5")
            .with("units", "1h 30m")
            .with("bad", "soon")
            .with("negative", -1.0)
            .with("list", ConfigValue::List(vec![]));
        assert_eq!(args.get_seconds("plain").unwrap(), Some(Duration::from_millis(2500)));
        assert_eq!(args.get_seconds("units").unwrap(), Some(Duration::from_secs(5400)));
        for key in ["bad", "negative", "list"] {
            let err = args.get_seconds(key).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
        assert_eq!(args.get_seconds("missing").unwrap(), None);
    }

    #[test]
    fn redact_url_variants() {
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
        assert_eq!(redact_url("rediss://tok@h/0"), "rediss://<redacted>@h/0");
        assert_eq!(redact_url("redis://:pw@h"), "redis://<redacted>@h");
        assert_eq!(redact_url("redis://u:p/w#x?y@z@h:1/0?q=1"), UNPARSABLE_URL);
        assert_eq!(redact_url("redis://tok!en:@h"), "redis://<redacted>@h");
        // An unescaped `?` or `#` in a password would make the rest a query or a fragment.
        assert_eq!(redact_url("redis://app:?x=1&y=2@cache:1/3"), UNPARSABLE_URL);
        assert_eq!(redact_url("redis://app:1/pw@cache"), UNPARSABLE_URL);
        assert_eq!(
            redact_url("rediss://u:p@h:1/0?protocol=resp3&password=x"),
            "rediss://u:<redacted>@h:1/0?protocol=resp3&password=<redacted>"
        );
    }
}
