//! The crate's error type.

use std::fmt;
use std::time::Duration;

use crate::key::CacheKey;

/// A boxed error from a backend, a codec or a creator.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of backend failure an [`Error::Backend`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendErrorKind {
    /// The backend could not be reached, or the connection broke.
    Connection,
    /// The backend did not answer in time.
    Timeout,
    /// The key holds a value of another type than the operation needs
    /// (for example a plain key that holds a hash).
    WrongType,
    /// The backend refused the credentials, or the command without them (WRONGPASS, NOAUTH,
    /// NOPERM).
    Authentication,
    /// The backend refuses every write: out of memory under `noeviction`, a read-only replica,
    /// a failed background save (OOM, READONLY, MISCONF, NOREPLICAS).
    WritesRefused,
    /// Any other backend failure.
    Other,
}

impl BackendErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [BackendErrorKind; 6] = [
        BackendErrorKind::Connection,
        BackendErrorKind::Timeout,
        BackendErrorKind::WrongType,
        BackendErrorKind::Authentication,
        BackendErrorKind::WritesRefused,
        BackendErrorKind::Other,
    ];

    /// The kind in snake case (`"wrong_type"`), as metrics label it.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dogpile::BackendErrorKind::WritesRefused.name(), "writes_refused");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            BackendErrorKind::Connection => "connection",
            BackendErrorKind::Timeout => "timeout",
            BackendErrorKind::WrongType => "wrong_type",
            BackendErrorKind::Authentication => "authentication",
            BackendErrorKind::WritesRefused => "writes_refused",
            BackendErrorKind::Other => "other",
        }
    }

    /// What to check, for the error message.
    pub fn hint(self) -> &'static str {
        match self {
            BackendErrorKind::Connection => "check that the server is up and reachable at the configured address",
            BackendErrorKind::Timeout => {
                "the server answered too late: check its load and the network, or raise the socket timeout"
            }
            BackendErrorKind::WrongType => "another client stores a value of another type under this key",
            BackendErrorKind::Authentication => "check the user name, the password and the user's ACL permissions",
            BackendErrorKind::WritesRefused => {
                "the server refuses writes: check its maxmemory and eviction policy, whether it is a replica, and \
                 its persistence errors"
            }
            BackendErrorKind::Other => "see the server's reply above",
        }
    }
}

/// Every error this crate returns.
///
/// Variants are by kind; each carries the cache key it concerns when there is one, and the
/// underlying cause as its [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend failed.
    #[error("cache backend error{} ({kind:?}): {source}; {}", for_key(key), kind.hint())]
    Backend {
        /// What kind of failure.
        kind: BackendErrorKind,
        /// The key concerned, if any.
        key: Option<CacheKey>,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// A value could not be encoded, or stored bytes could not be decoded.
    #[error(
        "cannot encode or decode the cached value{}: {source}; check that the region's codec matches what wrote the entry",
        for_key(key)
    )]
    Codec {
        /// The key concerned, if any.
        key: Option<CacheKey>,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The creator function returned an error. The mutex was released.
    #[error("the creator for{} failed: {source}", for_key(key))]
    Creator {
        /// The key concerned, if any.
        key: Option<CacheKey>,
        /// The creator's error.
        #[source]
        source: BoxError,
    },
    /// The creator ran longer than the hard creator timeout and was given up on; the mutex
    /// was released and nothing was stored.
    #[error(
        "the creator for{} did not finish within {after:?}; raise the creator timeout or make the creator faster",
        for_key(key)
    )]
    CreatorTimeout {
        /// The key concerned, if any.
        key: Option<CacheKey>,
        /// The timeout.
        after: Duration,
    },
    /// A distributed lock vanished while its holder was creating the value (it expired, or the
    /// store was flushed). Raised only under the `error` lock-lost policy.
    #[error(
        "the lock{} was lost before the creator finished; raise the lock timeout or keep extending the lock",
        for_key(key)
    )]
    LockLost {
        /// The key concerned, if any.
        key: Option<CacheKey>,
    },
    /// Waiting for a lock took longer than the configured blocking timeout.
    #[error(
        "timed out after {waited:?} waiting for the lock{}; another process may be stuck creating the value",
        for_key(key)
    )]
    LockTimeout {
        /// The key concerned, if any.
        key: Option<CacheKey>,
        /// How long the caller waited.
        waited: Duration,
    },
    /// A configuration value is missing or invalid.
    #[error("invalid configuration for `{name}`: {message}")]
    Config {
        /// The name of the argument or setting.
        name: String,
        /// What is wrong with it, and what is expected.
        message: String,
    },
    /// The backend cannot store this kind of key (for example a hash key on a backend
    /// without hash storage).
    #[error("backend `{backend}` cannot store the key {key}; use a backend with hash-key support")]
    UnsupportedKey {
        /// The key that was refused.
        key: CacheKey,
        /// The backend's name.
        backend: &'static str,
    },
}

fn for_key(key: &Option<CacheKey>) -> KeySuffix<'_> {
    KeySuffix(key.as_ref())
}

struct KeySuffix<'a>(Option<&'a CacheKey>);

/// Longest key shown whole in an error message; longer ones are cut (a 1 MB key must not make
/// a 1 MB message).
const SHOWN_KEY: usize = 200;

impl fmt::Display for KeySuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(key) = self.0 else {
            return Ok(());
        };
        let shown = key.to_string();
        if shown.len() <= SHOWN_KEY {
            return write!(f, " key {shown}");
        }
        let mut cut = SHOWN_KEY;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        write!(f, " key {}... ({} bytes)", &shown[..cut], shown.len())
    }
}

impl Error {
    /// A backend error of the given kind.
    pub fn backend(kind: BackendErrorKind, source: impl Into<BoxError>) -> Self {
        Error::Backend { kind, key: None, source: source.into() }
    }

    /// A codec error.
    pub fn codec(source: impl Into<BoxError>) -> Self {
        Error::Codec { key: None, source: source.into() }
    }

    /// A configuration error for the setting `name`.
    pub fn config(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config { name: name.into(), message: message.into() }
    }

    /// Attaches `key` to the error if it has room for one and none is set yet.
    #[must_use]
    pub fn with_key(mut self, new: impl Into<CacheKey>) -> Self {
        if let Some(slot) = self.key_slot()
            && slot.is_none()
        {
            *slot = Some(new.into());
        }
        self
    }

    fn key_slot(&mut self) -> Option<&mut Option<CacheKey>> {
        match self {
            Error::Backend { key, .. }
            | Error::Codec { key, .. }
            | Error::Creator { key, .. }
            | Error::LockLost { key }
            | Error::LockTimeout { key, .. }
            | Error::CreatorTimeout { key, .. } => Some(key),
            Error::Config { .. } | Error::UnsupportedKey { .. } => None,
        }
    }

    /// The cache key this error concerns, if any.
    pub fn key(&self) -> Option<&CacheKey> {
        match self {
            Error::Backend { key, .. }
            | Error::Codec { key, .. }
            | Error::Creator { key, .. }
            | Error::LockLost { key }
            | Error::LockTimeout { key, .. }
            | Error::CreatorTimeout { key, .. } => key.as_ref(),
            Error::UnsupportedKey { key, .. } => Some(key),
            Error::Config { .. } => None,
        }
    }

    /// The backend failure kind, for [`Error::Backend`].
    pub fn backend_kind(&self) -> Option<BackendErrorKind> {
        match self {
            Error::Backend { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// True for a backend timeout, a lock wait that timed out, or a creator given up on.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::LockTimeout { .. } | Error::CreatorTimeout { .. })
            || self.backend_kind() == Some(BackendErrorKind::Timeout)
    }

    /// True when the backend could not be reached.
    pub fn is_connection(&self) -> bool {
        self.backend_kind() == Some(BackendErrorKind::Connection)
    }

    /// True when a distributed lock vanished during creation.
    pub fn is_lock_lost(&self) -> bool {
        matches!(self, Error::LockLost { .. })
    }

    /// True when stored bytes could not be decoded, or a value not encoded.
    pub fn is_codec(&self) -> bool {
        matches!(self, Error::Codec { .. })
    }

    /// True when the creator function failed.
    pub fn is_creator(&self) -> bool {
        matches!(self, Error::Creator { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_key_fills_an_empty_slot_only() {
        let err = Error::codec("bad bytes").with_key("a").with_key("b");
        assert_eq!(err.key(), Some(&CacheKey::from("a")));
        assert!(err.to_string().contains("key a"), "{err}");
    }

    #[test]
    fn predicates() {
        let err = Error::backend(BackendErrorKind::Timeout, "slow");
        assert!(err.is_timeout() && !err.is_connection());
        let err = Error::LockTimeout { key: None, waited: Duration::from_secs(1) };
        assert!(err.is_timeout());
        assert!(Error::LockLost { key: None }.is_lock_lost());
    }

    #[test]
    fn long_keys_are_cut_in_messages() {
        let err = Error::backend(BackendErrorKind::Other, "x").with_key("k".repeat(1_000_000));
        let shown = err.to_string();
        assert!(shown.len() < 1_000 && shown.contains("(1000000 bytes)"), "{}", shown.len());
        assert_eq!(err.key().map(|k| k.to_string().len()), Some(1_000_000), "the key itself is kept whole");
    }
}
