//! Profiles of the Python deployments a region can share a cache with.

use super::{Codec, Envelope, Format};
use crate::error::{Error, Result};

/// A Python deployment to share entries and locks with: its envelope, payload format, value
/// version and lock-name prefix, as that deployment writes them by default.
///
/// Set it with the `compat` argument (backend arguments or configuration) or in code with
/// [`Compat::codec`] and the Redis backend's `compat`; `serializer`, `envelope`,
/// `value_version` and `lock_prefix` still override each part.
///
/// | profile | name | Python deployment | envelope | format | `v` | lock names |
/// |---|---|---|---|---|---|---|
/// | [`Compat::Native`] | `native` | none (dogpile-rs alone) | seed | msgpack | 2 | `_lock<key>` |
/// | [`Compat::Dogpile1`] | `dogpile-1` | dogpile.cache 1.x, `dogpile.cache.redis` | dogpile1 | pickle | 2 | `_lock<key>` |
/// | [`Compat::Dogpile09`] | `dogpile-0.9` | dogpile.cache 0.9.x, `dogpile.cache.redis` | seed (a pickled `CachedValue`) | pickle | 1 | `_lock<key>` |
/// | [`Compat::Seed04`] | `seed-0.4` | plugin 0.4.x on dogpile.cache 0.9.x | seed (a pickled `CachedValue`) | pickle | 1 | `_lock<key>` |
/// | [`Compat::Seed05`] | `seed-0.5` | plugin 0.5.0 on dogpile.cache 1.x | dogpile1 | pickle | 2 | `_lok.<key>` |
/// | [`Compat::Seed05Raw`] | `seed-0.5-raw` | plugin 0.5.0, `already_serialized` with `Serializer_Raw_ProxyBackend` | raw | raw_proxy | 2 | `_lok.<key>` |
///
/// Hash keys `(name, field)` lock `prefix + "name,field"` in every profile.
///
/// # Examples
///
/// ```
/// use dogpile::codec::{Compat, Envelope, Format};
///
/// let compat = Compat::from_name("seed-0.5")?;
/// assert_eq!(compat.lock_prefix(), "_lok.");
/// let codec = compat.codec();
/// assert_eq!((codec.format(), codec.envelope(), codec.value_version()), (&Format::Pickle, Envelope::Dogpile1, 2));
/// # Ok::<(), dogpile::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compat {
    /// dogpile-rs's own defaults: msgpack in the seed envelope, version 2, `_lock`.
    Native,
    /// dogpile.cache 1.x's `dogpile.cache.redis` (and plugin 0.4.x's backends on dogpile 1.x):
    /// pickle after `{"ct": .., "v": 2}|`.
    Dogpile1,
    /// dogpile.cache 0.9.x's `dogpile.cache.redis`: the whole `CachedValue` pickled, version 1.
    Dogpile09,
    /// `dogpile_backend_redis_advanced` 0.4.x on dogpile.cache 0.9.x with its default pickle:
    /// the whole `CachedValue` pickled, version 1.
    Seed04,
    /// `dogpile_backend_redis_advanced` 0.5.0 on dogpile.cache 1.x: pickle after
    /// `{"ct": .., "v": 2}|`, locks named `_lok.<key>`.
    Seed05,
    /// `dogpile_backend_redis_advanced` 0.5.0's `already_serialized` backend wrapped in
    /// `Serializer_Raw_ProxyBackend`: the raw proxy format, no metadata (expiry left to Redis).
    Seed05Raw,
}

struct Profile {
    name: &'static str,
    format: Format,
    envelope: Envelope,
    value_version: u32,
    lock_prefix: &'static str,
}

impl Compat {
    /// Every profile.
    pub const ALL: [Compat; 6] =
        [Compat::Native, Compat::Dogpile1, Compat::Dogpile09, Compat::Seed04, Compat::Seed05, Compat::Seed05Raw];

    fn profile(self) -> Profile {
        let (name, format, envelope, value_version, lock_prefix) = match self {
            Compat::Native => ("native", Format::default(), Envelope::Seed, 2, "_lock"),
            Compat::Dogpile1 => ("dogpile-1", Format::Pickle, Envelope::Dogpile1, 2, "_lock"),
            Compat::Dogpile09 => ("dogpile-0.9", Format::Pickle, Envelope::Seed, 1, "_lock"),
            Compat::Seed04 => ("seed-0.4", Format::Pickle, Envelope::Seed, 1, "_lock"),
            Compat::Seed05 => ("seed-0.5", Format::Pickle, Envelope::Dogpile1, 2, "_lok."),
            Compat::Seed05Raw => ("seed-0.5-raw", Format::RawProxy, Envelope::Raw, 2, "_lok."),
        };
        Profile { name, format, envelope, value_version, lock_prefix }
    }

    /// The configuration name (`native`, `dogpile-1`, `dogpile-0.9`, `seed-0.4`, `seed-0.5`,
    /// `seed-0.5-raw`).
    pub fn name(self) -> &'static str {
        self.profile().name
    }

    /// The profile of a configuration name.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for `compat` when the name is unknown, listing the known ones.
    pub fn from_name(name: &str) -> Result<Self> {
        Compat::ALL.into_iter().find(|c| c.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Compat::ALL.iter().map(|c| c.name()).collect();
            Error::config("compat", format!("unknown profile {name:?}; expected one of {}", known.join(", ")))
        })
    }

    /// The codec the deployment writes.
    pub fn codec(self) -> Codec {
        let Profile { format, envelope, value_version, .. } = self.profile();
        Codec::new(format, envelope).with_value_version(value_version)
    }

    /// The prefix of the deployment's lock names.
    pub fn lock_prefix(self) -> &'static str {
        self.profile().lock_prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for compat in Compat::ALL {
            assert_eq!(Compat::from_name(compat.name()).unwrap(), compat);
        }
        let err = Compat::from_name("dogpile-2").unwrap_err().to_string();
        assert!(err.contains("seed-0.5-raw"), "{err}");
    }
}
