//! Redis backends for [`dogpile`]: `dogpile_backend_redis_advanced` and
//! `dogpile_backend_redis_advanced_hstore`.
//!
//! This crate is being built; its backends are not available yet.

#![warn(missing_docs)]

/// The registry names this crate will provide.
pub const BACKEND_NAMES: [&str; 2] = ["dogpile_backend_redis_advanced", "dogpile_backend_redis_advanced_hstore"];
