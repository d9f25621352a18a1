//! The lock options: whether the dogpile lock lives in Redis, how it is named, held, waited
//! for, and what a holder does when it vanished.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use dogpile::{Error, Result};

/// The lock TTL when none is configured: a crashed holder's lock is taken over after this.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// What to do when a distributed lock vanished before its holder released it (it expired, or
/// the server was flushed): the seed's `lock_class` need, as a policy.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum LockLostPolicy {
    /// Carry on (the value was created and stored all the same).
    #[default]
    Ignore,
    /// Return [`Error::LockLost`](dogpile::Error::LockLost) to the creating caller.
    Error,
    /// Call the function with the lock's name, then carry on.
    Callback(Arc<dyn Fn(&str) + Send + Sync>),
}

impl LockLostPolicy {
    /// A callback policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile_redis::{LockLostPolicy, RedisConfig};
    ///
    /// let config = RedisConfig::new()
    ///     .distributed_lock(true)
    ///     .lock_lost(LockLostPolicy::callback(|lock| eprintln!("{lock} vanished while held")));
    /// assert!(format!("{config:?}").contains("Callback(..)"));
    /// ```
    pub fn callback(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        LockLostPolicy::Callback(Arc::new(f))
    }

    pub(crate) fn from_name(name: &str) -> Result<Self> {
        match name {
            "ignore" => Ok(LockLostPolicy::Ignore),
            "error" | "raise" => Ok(LockLostPolicy::Error),
            other => Err(Error::config(
                "lock_lost",
                format!("unknown policy {other:?}; expected \"ignore\" or \"error\" (callbacks are set in code)"),
            )),
        }
    }
}

impl fmt::Debug for LockLostPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockLostPolicy::Ignore => "Ignore",
            LockLostPolicy::Error => "Error",
            LockLostPolicy::Callback(_) => "Callback(..)",
        })
    }
}

/// The lock group of [`RedisConfig`](crate::RedisConfig).
#[derive(Clone)]
pub(crate) struct LockOptions {
    /// The dogpile lock is a lock in Redis, shared by every process.
    pub(crate) distributed: bool,
    /// The lock's TTL in Redis; `None` for none.
    pub(crate) timeout: Option<Duration>,
    /// The pause between attempts while waiting.
    pub(crate) sleep: Duration,
    /// Whether waiting for the lock waits at all.
    pub(crate) blocking: bool,
    /// The longest wait; `None` for no limit.
    pub(crate) blocking_timeout: Option<Duration>,
    /// The lock of key `k` is `{prefix}k`.
    pub(crate) prefix: String,
    /// A holder extends its lock while its creator runs.
    pub(crate) extend: bool,
    /// What a holder does when its lock vanished.
    pub(crate) lost: LockLostPolicy,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            distributed: false,
            timeout: Some(DEFAULT_LOCK_TIMEOUT),
            sleep: Duration::from_millis(100),
            blocking: true,
            blocking_timeout: None,
            prefix: "_lock".into(),
            extend: true,
            lost: LockLostPolicy::Ignore,
        }
    }
}

impl fmt::Debug for LockOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let LockOptions { distributed, timeout, sleep, blocking, blocking_timeout, prefix, extend, lost } = self;
        f.debug_struct("Lock")
            .field("distributed_lock", distributed)
            .field("lock_timeout", timeout)
            .field("lock_sleep", sleep)
            .field("lock_blocking", blocking)
            .field("lock_blocking_timeout", blocking_timeout)
            .field("lock_prefix", prefix)
            .field("lock_extend", extend)
            .field("lock_lost", lost)
            .finish()
    }
}
