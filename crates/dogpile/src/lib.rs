//! A read-through cache region with the dogpile lock, in the model of Python's
//! [dogpile.cache]: when a popular value expires, exactly one caller regenerates it while the
//! others are served the previous value (or, when there is none, wait for the one creation
//! instead of stampeding the database).
//!
//! [dogpile.cache]: https://dogpilecache.sqlalchemy.org/
//!
//! # Quick start
//!
//! ```
//! use std::time::Duration;
//! use dogpile::Region;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> dogpile::Result<()> {
//! let region = Region::builder().expiration_time(Duration::from_secs(60)).build()?;
//!
//! let user: String = region
//!     .get_or_create("user:42", || async {
//!         // the expensive part: a database query, an HTTP call...
//!         Ok::<_, std::io::Error>("Ada".to_string())
//!     })
//!     .await?;
//! assert_eq!(user, "Ada");
//! # Ok(())
//! # }
//! ```
//!
//! # Parts
//!
//! - [`Region`]: get, get_multi, set, set_multi, delete, delete_multi, get_or_create,
//!   get_or_create_multi, invalidate, key_is_locked, function caching
//!   ([`Region::cache_on_arguments`]); [`blocking::Region`] for synchronous code.
//! - [`backend`]: the bytes-in, bytes-out [`Backend`](backend::Backend) contract, the
//!   [`MemoryBackend`](backend::MemoryBackend) (the default) and the
//!   [`NullBackend`](backend::NullBackend). The `dogpile-redis` crate adds Redis.
//! - [`codec`]: payload formats (msgpack, JSON, your own) and the envelopes shared with Python
//!   deployments (dogpile 1.x `metadata|payload`, the seed's `[payload, {ct, v}]`, compact,
//!   raw).
//! - [`registry`]: backends by name and configuration from key/value settings or TOML.
//!
//! # The algorithm
//!
//! Each value is stored with its creation time `ct`. A read-through call
//! ([`Region::get_or_create`]) reads the value and then:
//!
//! 1. fresh (`now - ct <= expiration_time`): returns it;
//! 2. expired, and the key's mutex is free: takes the mutex, runs the creator, stores the
//!    result, releases the mutex;
//! 3. expired, and the mutex is held (someone else is regenerating): returns the expired value
//!    at once;
//! 4. missing: waits for the mutex, reads again (the holder has most likely just stored the
//!    value), and creates it only if it is still missing.
//!
//! The mutex is per key: an in-process async mutex, taken first so that only one task per
//! process goes further, then the backend's distributed mutex if it has one. Its table holds
//! only keys that are locked or waited on. Guards release on drop, so a creator whose future is
//! cancelled frees the key for the next waiter. A creator's error reaches its own caller only;
//! the next waiter then tries its own creator.
//!
//! Hard invalidation makes every older value a miss; soft invalidation makes older values
//! expired (case 2 or 3), so one caller regenerates while the others get the old value.
//!
//! # Optional features
//!
//! - `msgpack` (default): the MessagePack payload format, the default codec.
//! - `json` (default): the JSON payload format.
//! - `blocking`: the [`blocking`] facade.
//! - `toml`: [`RegionBuilder::from_toml_str`] and [`RegionBuilder::from_toml_file`].
//! - `tracing`: debug events for dogpile's decisions and spans around region calls and
//!   backend calls ([`region::KeyLogging`] says how keys appear), warnings for errors no caller
//!   receives.
//! - `metrics`: counters and histograms through the `metrics` facade ([`metrics`]).
//!
//! The minimum supported Rust version is 1.88.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod backend;
#[cfg(feature = "blocking")]
pub mod blocking;
mod clock;
pub mod codec;
pub mod config;
mod error;
mod key;
mod lock;
#[cfg(feature = "metrics")]
pub mod metrics;
mod mutex;
pub mod region;
pub mod registry;
mod striped;
mod value;

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadmeDoctests;

pub use bytes::Bytes;
pub use erased_serde;

pub use clock::{Clock, MockClock, SystemClock};
pub use error::{BackendErrorKind, BoxError, Error, Result};
pub use key::{AsCacheKey, CacheKey, KeyMangler, KeyRef, sha1_hex};
pub use region::{Region, RegionBuilder};
pub use value::{CachedValue, Metadata, VALUE_VERSION};
