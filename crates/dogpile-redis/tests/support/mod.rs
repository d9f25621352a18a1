//! Fixtures: each test gets its own redis-server.

#![allow(dead_code)]

use std::time::Duration;

use dogpile_redis::{RedisAdvancedBackend, RedisAdvancedHstoreBackend, RedisConfig};
use dogpile_testing::{Fixture, RedisServer};

/// How many times the server ran `command` (INFO commandstats).
pub fn calls(server: &RedisServer, command: &str) -> u64 {
    let stats = server.must(&["INFO", "commandstats"]).as_text().unwrap_or_default();
    let prefix = format!("cmdstat_{command}:calls=");
    stats.lines().find_map(|line| line.strip_prefix(&prefix)?.split(',').next()?.parse().ok()).unwrap_or(0)
}

/// A config for `server` with quick lock polling (tests wait on locks a lot).
pub fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::from_url(server.url()).lock_sleep(Duration::from_millis(5))
}

pub fn advanced(configure: impl FnOnce(RedisConfig) -> RedisConfig) -> Fixture {
    advanced_on(RedisServer::start(), configure)
}

pub fn hstore(configure: impl FnOnce(RedisConfig) -> RedisConfig) -> Fixture {
    hstore_on(RedisServer::start(), configure)
}

/// The plain backend on its own Valkey 9 server.
pub fn valkey_advanced(configure: impl FnOnce(RedisConfig) -> RedisConfig) -> Fixture {
    advanced_on(RedisServer::start_valkey(), configure)
}

/// The hstore backend on its own Valkey 9 server.
pub fn valkey_hstore(configure: impl FnOnce(RedisConfig) -> RedisConfig) -> Fixture {
    hstore_on(RedisServer::start_valkey(), configure)
}

fn advanced_on(server: RedisServer, configure: impl FnOnce(RedisConfig) -> RedisConfig) -> Fixture {
    let backend = RedisAdvancedBackend::new(configure(config(&server))).expect("backend");
    Fixture::new(backend).keep(server)
}

fn hstore_on(server: RedisServer, configure: impl FnOnce(RedisConfig) -> RedisConfig) -> Fixture {
    let backend = RedisAdvancedHstoreBackend::new(configure(config(&server))).expect("backend");
    Fixture::new(backend).keep(server)
}

/// A config for a cluster's startup nodes (all of them), with quick lock polling.
pub fn cluster_config(cluster: &dogpile_testing::RedisCluster) -> RedisConfig {
    let nodes: Vec<String> = cluster.nodes().iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
    RedisConfig::new().cluster(nodes).lock_sleep(Duration::from_millis(5))
}

/// The plain backend on a private cluster of 3 primaries.
pub fn advanced_cluster(configure: impl FnOnce(RedisConfig) -> RedisConfig) -> Fixture {
    let cluster = dogpile_testing::RedisCluster::start(3, 0);
    let backend = RedisAdvancedBackend::new(configure(cluster_config(&cluster))).expect("backend");
    Fixture::new(backend).keep(cluster)
}

/// The hstore backend on a private cluster of 3 primaries.
pub fn hstore_cluster(configure: impl FnOnce(RedisConfig) -> RedisConfig) -> Fixture {
    let cluster = dogpile_testing::RedisCluster::start(3, 0);
    let backend = RedisAdvancedHstoreBackend::new(configure(cluster_config(&cluster))).expect("backend");
    Fixture::new(backend).keep(cluster)
}

/// A config for a Sentinel set, with quick lock polling.
pub fn sentinel_config(set: &dogpile_testing::RedisSentinelSet) -> RedisConfig {
    RedisConfig::new()
        .sentinel(set.sentinel_addrs(), dogpile_testing::sentinel::SERVICE)
        .expect("sentinel addresses")
        .lock_sleep(Duration::from_millis(5))
}

/// `backend` with an L1 in front, once its key tracking is on (the test runs on a
/// multi-threaded runtime).
pub fn with_l1<B: dogpile::backend::Backend>(
    l1: dogpile::Result<dogpile::backend::L1Backend<B>>,
) -> dogpile::backend::L1Backend<B> {
    let l1 = l1.expect("an L1 over Redis");
    let ready = tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(l1.ready()));
    ready.expect("key tracking starts");
    l1
}

/// The plain backend behind an L1 of 1,000 entries, on its own redis-server.
pub fn advanced_l1(configure: impl FnOnce(RedisConfig) -> RedisConfig) -> Fixture {
    let server = RedisServer::start();
    let backend = RedisAdvancedBackend::new(configure(config(&server))).expect("backend");
    Fixture::new(with_l1(backend.with_l1(dogpile::backend::L1Backend::builder().capacity(1_000)))).keep(server)
}

/// The hstore backend behind an L1 of 1,000 entries, on its own redis-server.
pub fn hstore_l1(configure: impl FnOnce(RedisConfig) -> RedisConfig) -> Fixture {
    let server = RedisServer::start();
    let backend = RedisAdvancedHstoreBackend::new(configure(config(&server))).expect("backend");
    Fixture::new(with_l1(backend.with_l1(dogpile::backend::L1Backend::builder().capacity(1_000)))).keep(server)
}
