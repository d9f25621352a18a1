//! TCP keepalive on the connections to Redis (redis-py's `socket_keepalive` and
//! `socket_keepalive_options`).

use std::time::Duration;

use dogpile::config::Arguments;
use dogpile::{Error, Result};
use redis::io::tcp::{TcpSettings, socket2};

/// TCP keepalive probes on every connection to Redis, so that a connection a firewall or a
/// dead peer dropped without a word is found out, and a quiet one is kept open. Unset fields
/// keep the system's values.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use dogpile_redis::{Keepalive, RedisConfig};
///
/// let config = RedisConfig::from_url("redis://cache.internal:6379/0")
///     .socket_keepalive(Keepalive::new().idle(Duration::from_secs(60)).interval(Duration::from_secs(10)).retries(3));
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Keepalive {
    /// Quiet time before the first probe (`TCP_KEEPIDLE`).
    pub idle: Option<Duration>,
    /// Time between probes (`TCP_KEEPINTVL`).
    pub interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped (`TCP_KEEPCNT`).
    pub retries: Option<u32>,
}

/// The option names `socket_keepalive_options` takes: the socket constants' names, their
/// numbers on Linux (the keys redis-py's dictionary has there), and plain words.
const IDLE: [&str; 3] = ["TCP_KEEPIDLE", "4", "idle"];
const INTERVAL: [&str; 3] = ["TCP_KEEPINTVL", "5", "interval"];
const RETRIES: [&str; 3] = ["TCP_KEEPCNT", "6", "retries"];

impl Keepalive {
    /// Keepalive with the system's timing.
    pub fn new() -> Self {
        Keepalive::default()
    }

    /// Sets [`Keepalive::idle`].
    #[must_use]
    pub fn idle(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// Sets [`Keepalive::interval`].
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// Sets [`Keepalive::retries`].
    #[must_use]
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// From redis-py's `socket_keepalive_options` table: `TCP_KEEPIDLE` and `TCP_KEEPINTVL`
    /// in seconds, `TCP_KEEPCNT` a count (also by their Linux numbers 4, 5, 6, or as `idle`,
    /// `interval`, `retries`).
    pub(crate) fn from_options(options: &Arguments) -> Result<Self> {
        let mut keepalive = Keepalive::new();
        for (key, _) in options.iter() {
            let name = format!("socket_keepalive_options.{key}");
            let bad = |e: Error| Error::config(&name, e.to_string());
            if IDLE.contains(&key) {
                keepalive.idle = options.get_seconds(key).map_err(bad)?;
            } else if INTERVAL.contains(&key) {
                keepalive.interval = options.get_seconds(key).map_err(bad)?;
            } else if RETRIES.contains(&key) {
                let count = options.get_u64(key).map_err(bad)?;
                keepalive.retries = count
                    .map(u32::try_from)
                    .transpose()
                    .map_err(|_| Error::config(&name, "expected a count of probes"))?;
            } else {
                return Err(Error::config(
                    name,
                    "not a keepalive option: give TCP_KEEPIDLE, TCP_KEEPINTVL or TCP_KEEPCNT",
                ));
            }
        }
        Ok(keepalive)
    }

    /// `base` with these keepalive probes on.
    pub(crate) fn tcp_settings(&self, base: TcpSettings) -> TcpSettings {
        let mut probes = socket2::TcpKeepalive::new();
        if let Some(idle) = self.idle {
            probes = probes.with_time(idle);
        }
        if let Some(interval) = self.interval {
            probes = probes.with_interval(interval);
        }
        if let Some(retries) = self.retries {
            probes = probes.with_retries(retries);
        }
        base.set_keepalive(probes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_by_name_number_or_word() {
        let by_name = Arguments::new().with("TCP_KEEPIDLE", 60).with("TCP_KEEPINTVL", 10).with("TCP_KEEPCNT", 3);
        let by_number = Arguments::new().with("4", 60).with("5", 10).with("6", 3);
        let by_word = Arguments::new().with("idle", "1m").with("interval", "10s").with("retries", 3);
        let expected = Keepalive::new().idle(Duration::from_secs(60)).interval(Duration::from_secs(10)).retries(3);
        for options in [by_name, by_number, by_word] {
            assert_eq!(Keepalive::from_options(&options).unwrap(), expected, "{options:?}");
        }
    }

    #[test]
    fn a_wrong_option_names_itself() {
        let err = Keepalive::from_options(&Arguments::new().with("TCP_KEEPALIVE", 1)).unwrap_err();
        assert!(err.to_string().contains("socket_keepalive_options.TCP_KEEPALIVE"), "{err}");
        let err = Keepalive::from_options(&Arguments::new().with("TCP_KEEPCNT", "many")).unwrap_err();
        assert!(err.to_string().contains("socket_keepalive_options.TCP_KEEPCNT"), "{err}");
        let err = Keepalive::from_options(&Arguments::new().with("TCP_KEEPCNT", 1i64 << 40)).unwrap_err();
        assert!(err.to_string().contains("count"), "{err}");
    }
}
