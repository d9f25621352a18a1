//! Redis-side expiry: the TTL on values, and when hashes get theirs.

use std::time::Duration;

/// When a hash gets the Redis TTL (`redis_expiration_time_hash`). Redis keeps one TTL per
/// hash, shared by all its fields.
///
/// Every policy writes the field and its TTL atomically, in one round trip (MULTI/EXEC); with
/// no `redis_expiration_time` set, no hash gets a TTL under any policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HashTtlPolicy {
    /// `false`: hashes never get a TTL.
    Never,
    /// `None` (the default): a hash gets the TTL when it is created, and later writes leave it
    /// running down (`EXPIRE ... NX`, Redis 7.0 or newer).
    #[default]
    OnCreate,
    /// `true`: every write resets the hash's TTL.
    OnEveryWrite,
}

impl HashTtlPolicy {
    /// The policy for the seed's `redis_expiration_time_hash` value: `None`, `true` or `false`.
    pub fn from_argument(value: Option<bool>) -> Self {
        match value {
            None => HashTtlPolicy::OnCreate,
            Some(true) => HashTtlPolicy::OnEveryWrite,
            Some(false) => HashTtlPolicy::Never,
        }
    }
}

/// A TTL as Redis takes it: whole seconds (EX/EXPIRE), or milliseconds (PX/PEXPIRE) when the
/// duration has a fraction of a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ttl {
    Seconds(u64),
    Millis(u64),
}

impl Ttl {
    pub(crate) fn new(d: Duration) -> Self {
        if d.subsec_nanos() == 0 {
            Ttl::Seconds(d.as_secs().max(1))
        } else {
            Ttl::Millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1))
        }
    }

    /// `SET key value EX n` / `PX n`.
    pub(crate) fn set_options(self) -> redis::SetOptions {
        let expiry = match self {
            Ttl::Seconds(s) => redis::SetExpiry::EX(s),
            Ttl::Millis(ms) => redis::SetExpiry::PX(ms),
        };
        redis::SetOptions::default().with_expiration(expiry)
    }

    /// `EXPIRE key n [NX]` or `PEXPIRE key n [NX]`.
    pub(crate) fn expire_cmd(self, key: &str, only_if_none: bool) -> redis::Cmd {
        let mut cmd = match self {
            Ttl::Seconds(s) => {
                let mut c = redis::cmd("EXPIRE");
                c.arg(key).arg(s);
                c
            }
            Ttl::Millis(ms) => {
                let mut c = redis::cmd("PEXPIRE");
                c.arg(key).arg(ms);
                c
            }
        };
        if only_if_none {
            cmd.arg("NX");
        }
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_use_ex_fractions_px() {
        assert_eq!(Ttl::new(Duration::from_secs(60)), Ttl::Seconds(60));
        assert_eq!(Ttl::new(Duration::from_millis(1500)), Ttl::Millis(1500));
        assert_eq!(Ttl::new(Duration::from_micros(10)), Ttl::Millis(1));
    }
}
