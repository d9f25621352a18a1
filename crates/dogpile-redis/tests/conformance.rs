//! The conformance suite against both Redis backends, each on its own redis-server, with and
//! without the distributed lock, in several codecs; and on Valkey 9.

mod support;

use std::time::Duration;

use dogpile::codec::{Codec, Envelope, Format};
use dogpile::config::Arguments;
use dogpile_testing::{Fixture, RedisServer};
use support::{advanced, hstore, valkey_advanced, valkey_hstore};

/// A proxy backend that overrides nothing.
#[derive(Debug)]
struct PassThrough;

impl dogpile::backend::ProxyBackend for PassThrough {}

dogpile_testing::conformance!(advanced_plain, || advanced(|c| c));
dogpile_testing::conformance!(advanced_lock, || advanced(|c| c.distributed_lock(true)));
dogpile_testing::conformance!(advanced_ttl_raw, || advanced(|c| c.redis_expiration_time(Duration::from_secs(60)))
    .with_codec(Codec::new(Format::Msgpack, Envelope::Raw)));
dogpile_testing::conformance!(advanced_blocking_io, || advanced(|c| c.blocking_io(true).distributed_lock(true)));
dogpile_testing::conformance!(advanced_coalesced, || advanced(|c| c.coalesce_reads(true)));
dogpile_testing::conformance!(advanced_coalesced_two_in_flight, || advanced(|c| c
    .coalesce_reads(true)
    .coalesced_reads_in_flight(2)
    .expect("2 reads in flight")));
dogpile_testing::conformance!(hstore_plain, || hstore(|c| c));
dogpile_testing::conformance!(hstore_coalesced_lock, || hstore(|c| c.coalesce_reads(true).distributed_lock(true)));
dogpile_testing::conformance!(hstore_blocking_io, || hstore(|c| c.blocking_io(true)));
dogpile_testing::conformance!(hstore_lock, || hstore(|c| c.distributed_lock(true)));
dogpile_testing::conformance!(hstore_ttl_json_dogpile1, || hstore(|c| c
    .redis_expiration_time(Duration::from_secs(60))
    .distributed_lock(true))
.with_codec(Codec::new(Format::Json, Envelope::Dogpile1)));
dogpile_testing::conformance!(hstore_configured, || {
    dogpile_redis::register();
    let server = RedisServer::start();
    let args = Arguments::new()
        .with("url", server.url())
        .with("redis_expiration_time", 60)
        .with("redis_expiration_time_hash", true)
        .with("distributed_lock", true)
        .with("lock_sleep", 0.005)
        .with("lock_prefix", "_");
    Fixture::configured(dogpile_redis::HSTORE, args).keep(server)
});
dogpile_testing::conformance!(valkey_advanced_plain, || valkey_advanced(|c| c));
dogpile_testing::conformance!(valkey_advanced_lock, || valkey_advanced(|c| c.distributed_lock(true)));
dogpile_testing::conformance!(valkey_advanced_ttl_raw, || valkey_advanced(
    |c| c.redis_expiration_time(Duration::from_secs(60))
)
.with_codec(Codec::new(Format::Msgpack, Envelope::Raw)));
dogpile_testing::conformance!(valkey_hstore_plain, || valkey_hstore(|c| c));
dogpile_testing::conformance!(valkey_hstore_lock_ttl, || valkey_hstore(|c| c
    .redis_expiration_time(Duration::from_secs(60))
    .distributed_lock(true)));
// Through a layer that passes every call on: the distributed locks of a multi-key
// read-through are then taken one by one through the layer.
dogpile_testing::conformance!(hstore_lock_proxied, || hstore(|c| c.distributed_lock(true)).wrapped(PassThrough));
dogpile_testing::conformance!(advanced_l1, || support::advanced_l1(|c| c.distributed_lock(true)));
dogpile_testing::conformance!(hstore_l1, || support::hstore_l1(|c| c.redis_expiration_time(Duration::from_secs(60))));
