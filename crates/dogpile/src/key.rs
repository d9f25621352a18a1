//! Cache keys: plain string keys and hash keys `(hash_name, field)`, owned ([`CacheKey`]) or
//! borrowed ([`KeyRef`]), and what region calls take as a key ([`AsCacheKey`]).

use std::fmt;
use std::hash::{Hash, Hasher};
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
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
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

    /// The key, borrowed.
    pub fn as_key_ref(&self) -> KeyRef<'_> {
        match self {
            CacheKey::Plain(key) => KeyRef::Plain(key),
            CacheKey::Hash { name, field } => KeyRef::Hash { name, field },
        }
    }
}

/// Hashes as its [`KeyRef`] does, so that maps of `CacheKey`s are searched with borrowed keys.
impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_key_ref().hash(state);
    }
}

/// A cache key, borrowed: a [`CacheKey`] that owns none of its strings.
///
/// Region calls read through a `KeyRef` of the key they are given, and a backend that answers
/// at once ([`Backend::get_ready`](crate::backend::Backend::get_ready)) looks its entries up
/// by it, so that a hit builds no owned key. It hashes and compares as the `CacheKey` it
/// borrows from.
///
/// # Examples
///
/// ```
/// use dogpile::{CacheKey, KeyRef};
///
/// let key = KeyRef::Hash { name: "users", field: "42" };
/// assert_eq!(key.to_cache_key(), CacheKey::from(("users", "42")));
/// assert_eq!(CacheKey::from("a").as_key_ref(), KeyRef::Plain("a"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyRef<'a> {
    /// A plain key.
    Plain(&'a str),
    /// A field of a hash.
    Hash {
        /// The hash's name (the store's key).
        name: &'a str,
        /// The field within the hash.
        field: &'a str,
    },
}

impl KeyRef<'_> {
    /// The owned key.
    pub fn to_cache_key(self) -> CacheKey {
        match self {
            KeyRef::Plain(key) => CacheKey::Plain(key.to_owned()),
            KeyRef::Hash { name, field } => CacheKey::hash(name, field),
        }
    }

    /// True for a hash key.
    pub fn is_hash(self) -> bool {
        matches!(self, KeyRef::Hash { .. })
    }
}

/// The hash that `#[derive(Hash)]` gives `CacheKey` (its variant's index as an `isize`, then
/// the strings), so that hashes kept across versions (expiration jitter) do not move.
impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            KeyRef::Plain(key) => {
                state.write_isize(0);
                key.hash(state);
            }
            KeyRef::Hash { name, field } => {
                state.write_isize(1);
                name.hash(state);
                field.hash(state);
            }
        }
    }
}

impl quick_cache::Equivalent<CacheKey> for KeyRef<'_> {
    fn equivalent(&self, key: &CacheKey) -> bool {
        *self == key.as_key_ref()
    }
}

impl PartialEq<CacheKey> for KeyRef<'_> {
    fn eq(&self, other: &CacheKey) -> bool {
        *self == other.as_key_ref()
    }
}

impl fmt::Display for KeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::Plain(key) => f.write_str(key),
            KeyRef::Hash { name, field } => write!(f, "({name:?}, {field:?})"),
        }
    }
}

impl fmt::Debug for KeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::Plain(key) => write!(f, "{key:?}"),
            KeyRef::Hash { .. } => fmt::Display::fmt(self, f),
        }
    }
}

impl From<KeyRef<'_>> for CacheKey {
    fn from(key: KeyRef<'_>) -> Self {
        key.to_cache_key()
    }
}

/// What region calls take as a key: a `&str` or `String` (a plain key), a `(name, field)`
/// pair of strings (a hash key), a [`CacheKey`] or a [`KeyRef`], or a reference to any of
/// these.
///
/// A call reads through the key as it was given, borrowed: a hit builds no owned key. An
/// owned key is made where one is kept (a lock held, a value created, an error).
///
/// # Examples
///
/// ```
/// use dogpile::{AsCacheKey, CacheKey, KeyRef};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> dogpile::Result<()> {
/// assert_eq!("a".as_key_ref(), KeyRef::Plain("a"));
/// assert_eq!(("h", String::from("f")).into_cache_key(), CacheKey::hash("h", "f"));
///
/// let region = dogpile::Region::builder().build()?;
/// let id = 42;
/// region.set(format!("user:{id}"), &"Ada").await?;
/// let name: Option<String> = region.get(&format!("user:{id}")).await?;
/// assert_eq!(name.as_deref(), Some("Ada"));
/// # Ok(())
/// # }
/// ```
pub trait AsCacheKey {
    /// The key, borrowed.
    fn as_key_ref(&self) -> KeyRef<'_>;

    /// The key, owned: moved where it is owned already, copied otherwise.
    fn into_cache_key(self) -> CacheKey
    where
        Self: Sized,
    {
        self.as_key_ref().to_cache_key()
    }
}

impl AsCacheKey for str {
    fn as_key_ref(&self) -> KeyRef<'_> {
        KeyRef::Plain(self)
    }
}

impl AsCacheKey for String {
    fn as_key_ref(&self) -> KeyRef<'_> {
        KeyRef::Plain(self)
    }

    fn into_cache_key(self) -> CacheKey {
        CacheKey::Plain(self)
    }
}

impl AsCacheKey for CacheKey {
    fn as_key_ref(&self) -> KeyRef<'_> {
        CacheKey::as_key_ref(self)
    }

    fn into_cache_key(self) -> CacheKey {
        self
    }
}

impl AsCacheKey for KeyRef<'_> {
    fn as_key_ref(&self) -> KeyRef<'_> {
        *self
    }
}

impl<N, F> AsCacheKey for (N, F)
where
    N: AsRef<str> + Into<String>,
    F: AsRef<str> + Into<String>,
{
    fn as_key_ref(&self) -> KeyRef<'_> {
        KeyRef::Hash { name: self.0.as_ref(), field: self.1.as_ref() }
    }

    fn into_cache_key(self) -> CacheKey {
        CacheKey::hash(self.0, self.1)
    }
}

impl<K: AsCacheKey + ?Sized> AsCacheKey for &K {
    fn as_key_ref(&self) -> KeyRef<'_> {
        K::as_key_ref(self)
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
    fn borrowed_keys_hash_and_compare_as_the_owned_ones() {
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        let keys = [CacheKey::from("a"), CacheKey::hash("a", ""), CacheKey::hash("", "a"), CacheKey::hash("ab", "c")];
        for key in &keys {
            assert_eq!(state.hash_one(key), state.hash_one(key.as_key_ref()), "{key:?}");
            assert_eq!(key.as_key_ref().to_cache_key(), *key);
            for other in &keys {
                assert_eq!(key.as_key_ref() == *other, key == other, "{key:?} {other:?}");
            }
        }
        // A plain key and a hash key of the same strings are different keys.
        assert_ne!(state.hash_one(KeyRef::Plain("ab")), state.hash_one(KeyRef::Hash { name: "a", field: "b" }));
    }

    #[test]
    fn keys_hash_as_the_derived_hash_did() {
        use std::hash::BuildHasher;
        #[derive(Hash)]
        enum Derived {
            Plain(String),
            Hash { name: String, field: String },
        }
        let state = foldhash::fast::FixedState::with_seed(7);
        assert_eq!(state.hash_one(CacheKey::from("k")), state.hash_one(Derived::Plain("k".into())));
        assert_eq!(
            state.hash_one(CacheKey::hash("h", "f")),
            state.hash_one(Derived::Hash { name: "h".into(), field: "f".into() })
        );
    }

    #[test]
    fn mangler_leaves_hash_fields_alone() {
        let m = KeyMangler::from_fn(|k| format!("p:{k}"));
        assert_eq!(m.mangle(&("h", "f").into()), CacheKey::hash("p:h", "f"));
    }
}
