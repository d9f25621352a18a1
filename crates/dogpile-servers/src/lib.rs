//! Private Redis processes on free local ports, stopped when dropped: one `redis-server` or
//! Valkey server ([`RedisServer`]), a Redis Cluster ([`RedisCluster`]), a Sentinel set
//! ([`RedisSentinelSet`]), TLS certificates for them ([`Certificates`]), and a proxy that
//! counts round trips ([`CountingProxy`]).
//!
//! Every launcher is fallible: a missing binary is an [`Error::Missing`] that says how to
//! install it, a process that does not come up an [`Error::Failed`] with its log. The
//! `dogpile` command's `--spawn*` options and the test harness both start their servers
//! here.
//!
//! # Examples
//!
//! ```no_run
//! # fn run() -> Result<(), dogpile_servers::Error> {
//! let server = dogpile_servers::RedisServer::start()?;
//! println!("a private redis-server at {}", server.url());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod cluster;
mod error;
mod proxy;
mod resp;
mod sentinel;
mod server;
mod tls;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use cluster::{CLI_BIN_ENV, RedisCluster, redis_cli};
pub use error::{Error, Result};
pub use proxy::{CountingProxy, NetFault};
pub use resp::Reply;
pub use sentinel::{RedisSentinelSet, SERVICE};
pub use server::{RedisServer, SERVER_BIN_ENV, VALKEY_BIN_ENV, free_port, valkey_binary};
pub use tls::Certificates;
