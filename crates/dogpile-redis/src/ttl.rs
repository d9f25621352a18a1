//! Redis-side expiry: the TTL on values, and when hashes get theirs.

use std::time::Duration;

use dogpile::config::Arguments;
use dogpile::{Error, Result};

/// When a hash, or each of its fields, gets the Redis TTL (`redis_expiration_time_hash`).
///
/// Under every policy a hash write and its TTL are all or nothing and go in the round trip of
/// the write, so no other client's write comes in between, and a key of another type gets
/// neither the write nor a TTL. The hash-wide policies run one script per hash that checks,
/// writes and sets the TTL. With no `redis_expiration_time` set, nothing gets a TTL under any
/// policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HashTtlPolicy {
    /// `false`: hashes never get a TTL.
    Never,
    /// `None` (the default): a hash gets the TTL when this write creates it, as in the Python
    /// plugin; later writes leave the TTL running down, and a hash that exists without a TTL
    /// keeps none.
    #[default]
    OnCreate,
    /// `true`: every write resets the hash's TTL.
    OnEveryWrite,
    /// `"per_field"`: every field written gets its own TTL, so that a field expires alone and
    /// its siblings stay; the hash itself gets none. `HSETEX` where the server has it (Valkey
    /// 9, Redis 8), else `HSET` and `HPEXPIRE` in one `MULTI`/`EXEC` (Redis 7.4): the server
    /// is asked once which it has. A server with neither (Redis before 7.4, Valkey before 9)
    /// is a configuration error, when the backend is built with
    /// [`connect`](crate::RedisAdvancedHstoreBackend::connect) (or at
    /// [`check`](crate::RedisAdvancedHstoreBackend::check)) and at every hash write, never a
    /// hash-wide TTL instead.
    PerField,
}

impl HashTtlPolicy {
    /// The name of [`HashTtlPolicy::PerField`] in configuration.
    pub const PER_FIELD: &'static str = "per_field";

    /// The policy for the seed's `redis_expiration_time_hash` value: `None`, `true` or `false`
    /// (`"per_field"` is [`HashTtlPolicy::PerField`]).
    pub fn from_argument(value: Option<bool>) -> Self {
        match value {
            None => HashTtlPolicy::OnCreate,
            Some(true) => HashTtlPolicy::OnEveryWrite,
            Some(false) => HashTtlPolicy::Never,
        }
    }

    /// The policy `redis_expiration_time_hash` gives in `args`, in any of its spellings:
    /// `true`, `false`, none (`None` in Python), or `"per_field"`; `None` when absent.
    pub(crate) fn from_arguments(args: &Arguments) -> Result<Option<Self>> {
        const KEY: &str = "redis_expiration_time_hash";
        if args.get(KEY).is_none() {
            return Ok(None);
        }
        match (args.get_str(KEY).ok().flatten(), args.get_bool(KEY)) {
            (Some(HashTtlPolicy::PER_FIELD), _) => Ok(Some(HashTtlPolicy::PerField)),
            (_, Ok(on)) => Ok(Some(HashTtlPolicy::from_argument(on))),
            (_, Err(_)) => Err(Error::config(KEY, "expected true, false or \"per_field\"")),
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

    pub(crate) fn millis(self) -> u64 {
        match self {
            Ttl::Seconds(s) => s.saturating_mul(1000),
            Ttl::Millis(ms) => ms,
        }
    }
}

/// The script that writes a hash's fields with its TTL.
pub(crate) const HASH_WRITE: &str = include_str!("ttl/hash_write.lua");

pub(crate) fn hash_write_sha() -> &'static str {
    static SHA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SHA.get_or_init(|| redis::Script::new(HASH_WRITE).get_hash().to_owned())
}

/// The hash write script's call (`script`: `EVAL` or `EVALSHA` of [`HASH_WRITE`], as the
/// topology calls scripts) for `fields` of the hash `name`: under
/// [`HashTtlPolicy::OnEveryWrite`] every write resets the TTL, otherwise only a write that
/// creates the hash sets it.
pub(crate) fn hash_write_cmd<'a>(
    mut script: redis::Cmd,
    name: &str,
    ttl: Ttl,
    policy: HashTtlPolicy,
    fields: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> redis::Cmd {
    let refresh = if policy == HashTtlPolicy::OnEveryWrite { "always" } else { "created" };
    script.arg(1).arg(name).arg(ttl.millis()).arg(refresh);
    for (field, value) in fields {
        script.arg(field).arg(value);
    }
    script
}

/// How a server gives one hash field its own TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldTtl {
    /// `HSETEX key PX ms FIELDS n field value ...` (Valkey 9, Redis 8).
    Hsetex,
    /// `HSET` then `HPEXPIRE key ms FIELDS n field ...`, in one `MULTI`/`EXEC` (Redis 7.4).
    Hpexpire,
    /// Neither.
    Missing,
}

impl FieldTtl {
    /// The commands that write `fields` of the hash `name`, each field with `ttl`, atomically.
    pub(crate) fn write_cmds<'a>(
        self,
        name: &str,
        ttl: Ttl,
        fields: impl Iterator<Item = (&'a str, &'a [u8])> + Clone,
    ) -> Vec<redis::Cmd> {
        let count = fields.clone().count();
        match self {
            FieldTtl::Hsetex => {
                let mut cmd = redis::cmd("HSETEX");
                cmd.arg(name).arg("PX").arg(ttl.millis()).arg("FIELDS").arg(count);
                for (field, value) in fields {
                    cmd.arg(field).arg(value);
                }
                vec![cmd]
            }
            FieldTtl::Hpexpire | FieldTtl::Missing => {
                let mut set = redis::cmd("HSET");
                set.arg(name);
                let mut expire = redis::cmd("HPEXPIRE");
                expire.arg(name).arg(ttl.millis()).arg("FIELDS").arg(count);
                for (field, value) in fields {
                    set.arg(field).arg(value);
                    expire.arg(field);
                }
                vec![redis::cmd("MULTI"), set, expire, redis::cmd("EXEC")]
            }
        }
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
