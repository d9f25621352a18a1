//! Fixtures: each test gets its own redis-server.

#![allow(dead_code)]

use std::time::Duration;

use dogpile_redis::{RedisAdvancedBackend, RedisAdvancedHstoreBackend, RedisConfig};
use dogpile_testing::{Fixture, RedisServer};

/// A config for `server` with quick lock polling (tests wait on locks a lot).
pub fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::from_url(server.url()).lock_sleep(Duration::from_millis(5))
}

pub fn advanced(configure: impl FnOnce(RedisConfig) -> RedisConfig) -> Fixture {
    let server = RedisServer::start();
    let backend = RedisAdvancedBackend::new(configure(config(&server))).expect("backend");
    Fixture::new(backend).keep(server)
}

pub fn hstore(configure: impl FnOnce(RedisConfig) -> RedisConfig) -> Fixture {
    let server = RedisServer::start();
    let backend = RedisAdvancedHstoreBackend::new(configure(config(&server))).expect("backend");
    Fixture::new(backend).keep(server)
}
