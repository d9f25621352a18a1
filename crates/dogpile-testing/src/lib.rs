//! Shared test suites for [`dogpile`] backends, and a harness that runs real `redis-server`s.
//!
//! The conformance suites are ordinary async functions over a [`Fixture`]; the
//! [`conformance!`] macro stamps a `#[tokio::test]` for each into a module, so every backend
//! runs the same assertions:
//!
//! ```ignore
//! use dogpile::backend::MemoryBackend;
//! use dogpile_testing::Fixture;
//!
//! dogpile_testing::conformance!(memory, || Fixture::new(MemoryBackend::default()));
//! ```
//!
//! Backend differences go through [`Capabilities`](dogpile::backend::Capabilities) and the
//! fixture's codec, never through edited assertions. The null backend, which stores nothing,
//! has its own suite ([`null_conformance!`]).

#![warn(missing_docs)]

pub mod cluster;
pub mod conformance;
pub mod fakes;
mod fixture;
mod macros;
pub mod metrics;
pub mod proxy;
pub mod python;
pub mod sentinel;
pub mod server;
pub mod tls;
pub mod trace;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use cluster::RedisCluster;
pub use dogpile_servers::NetFault;
pub use fixture::Fixture;
pub use proxy::CountingProxy;
pub use sentinel::RedisSentinelSet;
pub use server::{RedisServer, ServerExt};
pub use tls::TestCertificates;
