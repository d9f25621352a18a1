//! dogpile's decisions as `tracing` debug events (with the `tracing` feature), as dogpile.cache
//! logs them, under the target `dogpile`; keys appear as the region's [`KeyLogging`] says.

use std::fmt;

use crate::key::sha1_hex;

/// How keys appear in a region's `tracing` events. Keys may carry user data (an e-mail address
/// in `user:ada@example.com`), so by default they are hashed.
///
/// # Examples
///
/// ```
/// use dogpile::region::KeyLogging;
///
/// let region = dogpile::Region::builder().log_keys(KeyLogging::Omitted).build()?;
/// # Ok::<(), dogpile::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyLogging {
    /// The key as it is.
    Plain,
    /// The first 16 hex digits of the key's SHA-1: one key's events can still be followed.
    #[default]
    Hashed,
    /// No key.
    Omitted,
}

/// A key (a `CacheKey` or a `KeyRef`) as a region's events show it.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) struct Logged<K>(pub(crate) K, pub(crate) KeyLogging);

impl<K: fmt::Display> fmt::Display for Logged<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            KeyLogging::Plain => write!(f, "{}", self.0),
            KeyLogging::Hashed => f.write_str(&sha1_hex(&self.0.to_string())[..16]),
            KeyLogging::Omitted => f.write_str("-"),
        }
    }
}

/// A debug event for a decision about `key` in `region` (nothing without the `tracing`
/// feature; the fields are only evaluated when the event is enabled).
macro_rules! decision {
    ($region:expr, $key:expr, $($rest:tt)+) => {{
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: "dogpile",
            region = $region.inner.name.as_deref().unwrap_or(""),
            key = %$crate::region::trace::Logged($key, $region.inner.key_logging),
            $($rest)+
        );
    }};
}
pub(crate) use decision;

/// A debug event for a decision about several keys at once (a multi call's batch), with
/// their number in `keys`.
macro_rules! batch_decision {
    ($region:expr, $keys:expr, $($rest:tt)+) => {{
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: "dogpile",
            region = $region.inner.name.as_deref().unwrap_or(""),
            keys = $keys,
            $($rest)+
        );
    }};
}
pub(crate) use batch_decision;
