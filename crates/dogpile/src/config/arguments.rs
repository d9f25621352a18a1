//! Named configuration arguments: typed getters, and `Debug` output without secrets.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{ConfigValue, redact_url};
use crate::error::{Error, Result};

/// Named configuration arguments for a backend (dogpile's `arguments` dictionary).
///
/// Getters return `Ok(None)` for a missing key and [`Error::Config`] naming the key for a value
/// of the wrong type. Keys nobody asks for are ignored, and remembered: a region built from
/// arguments reports those that neither the backend nor the codec read
/// ([`Arguments::unused_keys`]), so that a typo shows. `Debug` output hides passwords,
/// secrets, tokens and the credentials inside URLs.
#[derive(Default)]
pub struct Arguments {
    values: BTreeMap<String, ConfigValue>,
    /// The keys asked for, shared by clones (a factory may read a clone).
    read: Arc<Mutex<BTreeSet<String>>>,
}

impl Clone for Arguments {
    fn clone(&self) -> Self {
        Arguments { values: self.values.clone(), read: Arc::clone(&self.read) }
    }
}

impl PartialEq for Arguments {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values
    }
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
        let values = pairs.into_iter().map(|(k, v)| (k.into(), ConfigValue::coerce(v.as_ref()))).collect();
        Arguments { values, read: Arc::default() }
    }

    /// Adds `value` at `key` unless an argument is there already.
    pub(crate) fn insert_missing(&mut self, key: &str, value: &ConfigValue) {
        self.values.entry(key.to_owned()).or_insert_with(|| value.clone());
    }

    /// Removes the argument at `key` and gives its value.
    pub fn remove(&mut self, key: &str) -> Option<ConfigValue> {
        self.values.remove(key)
    }

    /// The raw value at `key` (which counts as read).
    pub fn get(&self, key: &str) -> Option<&ConfigValue> {
        if self.values.contains_key(key) {
            self.read.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_owned());
        }
        self.values.get(key)
    }

    /// The keys nobody has read through a getter, nested tables' as `table.key` (for a table
    /// that was read); `iter` does not count as reading.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::config::Arguments;
    ///
    /// let args = Arguments::new().with("capacity", 10).with("capactiy", 10);
    /// args.get_u64("capacity")?;
    /// assert_eq!(args.unused_keys(), ["capactiy"]);
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn unused_keys(&self) -> Vec<String> {
        let read = self.read.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut unused = Vec::new();
        for (key, value) in &self.values {
            if !read.contains(key) {
                unused.push(key.clone());
            } else if let ConfigValue::Map(table) = value {
                unused.extend(table.unused_keys().into_iter().map(|nested| format!("{key}.{nested}")));
            }
        }
        unused
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
    /// use dogpile::config::Arguments;
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
            return duration_text(key, text).map(Some);
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

pub(super) fn is_secret_key(key: &str) -> bool {
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

/// A duration with units, as humantime reads it (`"300ms"`, `"1h 30m"`), for the setting `name`.
pub(crate) fn duration_text(name: &str, text: &str) -> Result<Duration> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        Error::config(name, format!("expected seconds or a duration such as \"300ms\" or \"1h 30m\": {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
