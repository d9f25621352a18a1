//! Cache keys: plain string keys and hash keys `(hash_name, field)`.

use std::fmt;
use std::sync::Arc;

/// A cache key.
///
/// A plain key names one entry. A hash key `(name, field)` names one field of a hash: backends
/// with hash storage (the Redis hstore backend) keep all fields of `name` together, so they share
/// one TTL and can be read in one command. Backends without hash storage either keep hash keys
/// as independent entries (memory, null) or refuse them with [`Error::UnsupportedKey`].
///
/// [`Error::UnsupportedKey`]: crate::Error::UnsupportedKey
///
/// # Examples
///
/// ```
/// use dogpile::CacheKey;
///
/// let plain = CacheKey::from("user:42");
/// let field = CacheKey::from(("users", "42"));
/// assert_eq!(plain.to_string(), "user:42");
/// assert_eq!(field.lock_name(), "users,42");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CacheKey {
    /// A plain key.
    Plain(String),
    /// A field of a hash.
    Hash {
        /// The hash's name (the store's key).
        name: String,
        /// The field within the hash.
        field: String,
    },
}

impl CacheKey {
    /// A plain key.
    pub fn plain(key: impl Into<String>) -> Self {
        CacheKey::Plain(key.into())
    }

    /// A hash key: `field` of the hash `name`.
    pub fn hash(name: impl Into<String>, field: impl Into<String>) -> Self {
        CacheKey::Hash { name: name.into(), field: field.into() }
    }

    /// True for a hash key.
    pub fn is_hash(&self) -> bool {
        matches!(self, CacheKey::Hash { .. })
    }

    /// The name the dogpile lock uses for this key: the key itself, or `name,field` for a hash
    /// key (the join that Python's `dogpile_backend_redis_advanced` uses, so both lock the same
    /// names).
    pub fn lock_name(&self) -> String {
        match self {
            CacheKey::Plain(key) => key.clone(),
            CacheKey::Hash { name, field } => format!("{name},{field}"),
        }
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheKey::Plain(key) => f.write_str(key),
            CacheKey::Hash { name, field } => write!(f, "({name:?}, {field:?})"),
        }
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheKey::Plain(key) => write!(f, "{key:?}"),
            CacheKey::Hash { name, field } => write!(f, "({name:?}, {field:?})"),
        }
    }
}

impl From<&str> for CacheKey {
    fn from(key: &str) -> Self {
        CacheKey::Plain(key.to_owned())
    }
}

impl From<String> for CacheKey {
    fn from(key: String) -> Self {
        CacheKey::Plain(key)
    }
}

impl From<&String> for CacheKey {
    fn from(key: &String) -> Self {
        CacheKey::Plain(key.clone())
    }
}

impl From<&CacheKey> for CacheKey {
    fn from(key: &CacheKey) -> Self {
        key.clone()
    }
}

impl<N: Into<String>, F: Into<String>> From<(N, F)> for CacheKey {
    fn from((name, field): (N, F)) -> Self {
        CacheKey::hash(name, field)
    }
}

/// Rewrites keys before they reach the backend (dogpile's `key_mangler`).
///
/// A mangler built with [`KeyMangler::from_fn`] applies to plain keys and to the *name* of hash
/// keys (the part that becomes a store key); hash fields stay as they are.
///
/// # Examples
///
/// ```
/// use dogpile::{CacheKey, KeyMangler};
///
/// let prefix = KeyMangler::from_fn(|key| format!("myapp:{key}"));
/// assert_eq!(prefix.mangle(&"a".into()), CacheKey::from("myapp:a"));
///
/// let sha1 = KeyMangler::sha1();
/// assert_eq!(
///     sha1.mangle(&"a".into()).to_string(),
///     "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"
/// );
/// ```
#[derive(Clone)]
pub struct KeyMangler {
    inner: Arc<dyn Fn(&str) -> String + Send + Sync>,
}

impl KeyMangler {
    /// A mangler from a function over the key string.
    pub fn from_fn(f: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        KeyMangler { inner: Arc::new(f) }
    }

    /// dogpile's `sha1_mangle_key`: the hex SHA-1 of the key.
    pub fn sha1() -> Self {
        KeyMangler::from_fn(sha1_hex)
    }

    /// dogpile's `length_conditional_mangler(length, sha1_mangle_key)`: keys of `length` bytes
    /// or more become their SHA-1, shorter keys stay as they are.
    pub fn sha1_if_longer_than(length: usize) -> Self {
        KeyMangler::from_fn(move |key| if key.len() >= length { sha1_hex(key) } else { key.to_owned() })
    }

    /// Applies the mangler to `key`.
    pub fn mangle(&self, key: &CacheKey) -> CacheKey {
        match key {
            CacheKey::Plain(k) => CacheKey::Plain((self.inner)(k)),
            CacheKey::Hash { name, field } => CacheKey::Hash { name: (self.inner)(name), field: field.clone() },
        }
    }
}

impl fmt::Debug for KeyMangler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMangler").finish_non_exhaustive()
    }
}

/// The hex SHA-1 of `key` (dogpile's `sha1_mangle_key`).
pub fn sha1_hex(key: &str) -> String {
    sha1_smol::Sha1::from(key.as_bytes()).digest().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_mangler_keeps_short_keys() {
        let m = KeyMangler::sha1_if_longer_than(10);
        assert_eq!(m.mangle(&"short".into()), CacheKey::from("short"));
        let long = m.mangle(&"a-rather-long-key".into()).to_string();
        assert_eq!(long.len(), 40);
    }

    #[test]
    fn mangler_leaves_hash_fields_alone() {
        let m = KeyMangler::from_fn(|k| format!("p:{k}"));
        assert_eq!(m.mangle(&("h", "f").into()), CacheKey::hash("p:h", "f"));
    }
}
