//! Redis backends for [`dogpile`], after the Python plugin `dogpile_backend_redis_advanced`:
//!
//! - [`RedisAdvancedBackend`] (`dogpile_backend_redis_advanced`, alias `redis_advanced`):
//!   values in Redis strings, an optional Redis TTL, and an optional distributed lock.
//! - [`RedisAdvancedHstoreBackend`] (`dogpile_backend_redis_advanced_hstore`, alias
//!   `redis_advanced_hstore`): the same, plus hash keys `(name, field)` stored as fields of
//!   Redis hashes, with a TTL policy for the hashes.
//!
//! Both run on one server, behind Sentinel ([`RedisConfig::sentinel`]; the registry names
//! ending in `_sentinel`), or on a Redis Cluster ([`RedisConfig::cluster`]; the names ending in
//! `_cluster`). Under Sentinel the backend asks the sentinels for the primary at each
//! connection, and connects again, to the new primary, when the old one is gone or answers
//! as a replica (`READONLY`). On a cluster, a multi-key operation is one pipeline per primary
//! involved, sent concurrently; a hash key lives in its hash's slot, so a hash write and its TTL
//! stay one atomic script; the distributed lock lives in its own key's slot, on that slot's
//! primary. The lock's guarantee is that of a single primary: it is not Redlock. When a
//! primary fails over, a lock written to it but not yet replicated can be lost, so a second
//! caller may run the creator while the first still does; the value either writes is whole.
//!
//! The seed's `loads`/`dumps` are the region's [codec](dogpile::codec): choose it with the
//! `serializer` and `envelope` arguments (for example `envelope = "raw"` to keep only the
//! payload and leave expiry to `redis_expiration_time`).
//!
//! # Examples
//!
//! ```no_run
//! use dogpile::config::Arguments;
//! use dogpile::Region;
//!
//! # async fn run() -> dogpile::Result<()> {
//! dogpile_redis::register();
//! let args = Arguments::new()
//!     .with("url", "redis://127.0.0.1:6379/0")
//!     .with("redis_expiration_time", 3600)
//!     .with("distributed_lock", true)
//!     .with("envelope", "seed");
//! let region = Region::builder().configure("dogpile_backend_redis_advanced_hstore", args).build()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Arguments
//!
//! | name | type | default | meaning |
//! |---|---|---|---|
//! | `url` | string | none | `redis://[user:password@]host:port/db`, or `rediss://` (feature `tls`); replaces the next five |
//! | `host` | string | `localhost` | server host |
//! | `port` | integer | `6379` | server port |
//! | `db` | integer | `0` | database number |
//! | `username` | string | none | ACL user |
//! | `password` | string | none | password (never shown in `Debug` output, logs or errors) |
//! | `socket_timeout` | seconds | `5` | reply timeout of each command |
//! | `socket_connect_timeout` | seconds | `5` | connection timeout |
//! | `blocking_io` | bool | `false` | one server's commands are sent and answered on the thread that polls them, blocking it, over a connection of their own: for a caller that drives a single-threaded runtime itself ([`RedisConfig::blocking_io`]) |
//! | `coalesce_reads` | bool | `false` | single-key reads issued while a read is out on the connection (on a cluster, to the same node) go together as one `MGET` (and one `HMGET` per hash) when it returns, each key read once; a read never joins one already sent ([`RedisConfig::coalesce_reads`]) |
//! | `coalesced_reads_in_flight` | int | `1` | how many coalesced reads may be out at once on one connection (1 to 16); a read waits only while that many are out ([`RedisConfig::coalesced_reads_in_flight`]) |
//! | `socket_keepalive` | bool | `false` | TCP keepalive probes on every connection ([`Keepalive`]) |
//! | `socket_keepalive_options` | table | none | with `socket_keepalive`: `TCP_KEEPIDLE` and `TCP_KEEPINTVL` (seconds), `TCP_KEEPCNT` (probes); also by their Linux numbers `4`, `5`, `6`, as redis-py's dictionary has them |
//! | `redis_expiration_time` | seconds (fractions allowed) | none | Redis TTL of every value: `SET .. EX` (`PX` for fractions); none: no TTL |
//! | `redis_expiration_time_jitter` | fraction | `0` | each value's (or hash's) TTL is shortened by a random part of up to this fraction |
//! | `redis_expiration_time_hash` | `true` / `false` / none / `"per_field"` | none | hstore only: `false` never TTLs a hash, none sets the TTL when the hash is created, `true` resets it on every write, `"per_field"` gives each field written a TTL of its own ([`HashTtlPolicy`]) |
//! | `distributed_lock` | bool | `false` | the dogpile lock in Redis, shared by all processes |
//! | `lock_timeout` | seconds | `30` | the lock's TTL; a running creator keeps extending it |
//! | `lock_sleep` | seconds | `0.1` | pause between attempts while waiting for the lock |
//! | `lock_blocking` | bool | `true` | whether waiting for the lock waits at all |
//! | `lock_blocking_timeout` | seconds | none | longest wait for the lock (then [`Error::LockTimeout`](dogpile::Error::LockTimeout)) |
//! | `lock_prefix` | string | `_lock` | lock names are prefix + key, or prefix + `name,field` for hash keys |
//! | `lock_extend` | bool | `true` | extend the lock while the creator runs |
//! | `ssl` | bool | `false` | TLS to the servers (feature `tls`): the same as `rediss://`; behind Sentinel, to the primary |
//! | `ssl_ca_certs` | path | none | PEM CA certificate to trust for TLS instead of the system roots (feature `tls`) |
//! | `connection_kwargs` | table | none | dogpile's table of redis-py connection arguments: `socket_timeout`, `socket_connect_timeout`, `socket_keepalive`, `socket_keepalive_options`, `ssl` and `ssl_ca_certs` are read from it (the flat argument wins) |
//! | `thread_local_lock` | bool | | dogpile's; accepted, with no meaning here (the lock is never thread-bound) |
//! | `lock_lost` | `ignore` / `error` | `ignore` | what to do when the lock vanished during creation (the seed's `lock_class`); a callback is set in code |
//! | `compat` | `native` / `dogpile-1` / `dogpile-0.9` / `seed-0.4` / `seed-0.5` / `seed-0.5-raw` | `native` | the Python deployment to share entries and locks with ([`Compat`](dogpile::codec::Compat)): the defaults of the next four and of `lock_prefix` |
//! | `serializer` | `msgpack` / `json` / `pickle` / `raw_proxy` | `msgpack` | the region's payload format (the seed's `dumps`/`loads`) |
//! | `envelope` | `dogpile1` / `seed` / `compact` / `raw` | `seed` | the region's envelope |
//! | `compression` | `zstd` / `lz4` / `none` | `none` | entries longer than `compress_above` are stored compressed (dogpile's features `zstd`, `lz4`); compressed entries are read whatever this says ([`Compressor`](dogpile::codec::Compressor)) |
//! | `compress_above` | bytes | `1024` | the shortest entry compressed |
//! | `max_decompressed_size` | bytes | 64 MiB | a compressed entry declaring more is refused before anything is allocated |
//! | `value_version` | integer | `2` | dogpile's value version (1 for dogpile 0.9.x) |
//! | `startup_nodes` | list | none | cluster names only: `host:port` strings or `{host, port}` tables to start from (else `url`, or `host` and `port`) |
//! | `sentinels` | list | none | sentinel names only, required: `host:port` strings or `[host, port]` pairs |
//! | `service_name` | string | `mymaster` | sentinel names only: the primary the sentinels monitor |
//! | `sentinel_kwargs` | table | none | sentinel names only: the sentinels' `password`, `username`, `ssl`, `ssl_ca_certs` (also flat as `sentinel_password`, `sentinel_username`, `sentinel_ssl_ca_certs`) |
//! | `sentinel_ssl` | bool | `false` | sentinel names only: TLS to the sentinels (feature `tls`) |
//! | `l1` | table | none | an in-process L1 in front, kept coherent by key tracking (`with_l1`): `capacity` or `max_bytes`, `time_to_live` (seconds), `prefixes` ([`L1Builder::from_arguments`](dogpile::backend::L1Builder::from_arguments)) |
//!
//! Unknown arguments are ignored, so a dogpile configuration with Python-only arguments
//! works; each one nothing reads is reported once per process at `warn` level (with the
//! `tracing` feature), so that a typo shows. A client or a connection the caller made
//! (dogpile's `connection_pool`) is given in code: [`RedisConfig::client`],
//! [`RedisConfig::connection`]. The names of Python's backends imply their deployment's `compat`
//! ([`BACKEND_NAMES`]).
//!
//! # Optional features
//!
//! - `tls`: `rediss://` URLs and TLS to the servers and sentinels behind Sentinel, through
//!   rustls with the system's root certificates or a given CA.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod advanced;
mod config;
mod connection;
mod error;
mod facade;
mod gather;
mod hstore;
mod invalidation;
mod lock;
mod socket;
mod store;
mod tags;
mod topology;
mod tracking;
mod ttl;

use std::sync::Arc;

use dogpile::Result;
use dogpile::backend::{Backend, DynBackend, L1Backend, L1Builder};
use dogpile::config::Arguments;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use redis;

pub use advanced::{ADVANCED, RedisAdvancedBackend};

/// The registry name of [`RedisAdvancedBackend`] on a Redis Cluster.
pub const ADVANCED_CLUSTER: &str = "dogpile_backend_redis_advanced_cluster";
/// The registry name of [`RedisAdvancedHstoreBackend`] on a Redis Cluster.
pub const HSTORE_CLUSTER: &str = "dogpile_backend_redis_advanced_hstore_cluster";
/// The registry name of [`RedisAdvancedBackend`] behind Sentinel.
pub const ADVANCED_SENTINEL: &str = "dogpile_backend_redis_advanced_sentinel";
/// The registry name of [`RedisAdvancedHstoreBackend`] behind Sentinel.
pub const HSTORE_SENTINEL: &str = "dogpile_backend_redis_advanced_hstore_sentinel";
pub use config::{DEFAULT_LOCK_TIMEOUT, DEFAULT_SOCKET_TIMEOUT, LockLostPolicy, RedisConfig};
pub use hstore::{HSTORE, RedisAdvancedHstoreBackend};
pub use invalidation::{CHANNEL as INVALIDATION_CHANNEL, SharedInvalidation};
pub use socket::Keepalive;
pub use tags::CHANNEL as TAGS_CHANNEL;
pub use ttl::HashTtlPolicy;

/// The Lua script the hstore backend runs to write one hash's fields with its TTL, all or
/// nothing (`KEYS[1]` the hash; `ARGV` the TTL in milliseconds, `always` or `created`, then
/// field, value pairs). For other clients that write the same hashes and want the same
/// guarantee.
pub const HASH_WRITE_SCRIPT: &str = ttl::HASH_WRITE;

/// The names [`register`] gives the backends, and the Python deployment each name implies
/// (its [`Compat`](dogpile::codec::Compat) profile, as the `compat` argument's default).
///
/// | name | backend | implies |
/// |---|---|---|
/// | `dogpile_backend_redis_advanced`, `redis_advanced` | [`RedisAdvancedBackend`] | nothing (dogpile-rs defaults) |
/// | `dogpile_backend_redis_advanced_hstore`, `redis_advanced_hstore` | [`RedisAdvancedHstoreBackend`] | nothing (dogpile-rs defaults) |
/// | `dogpile.cache.redis` | [`RedisAdvancedBackend`] | `compat = "dogpile-1"` |
/// | `dogpile_backend_redis_advanced.hstore` | [`RedisAdvancedHstoreBackend`] | `compat = "seed-0.5"` |
/// | `dogpile_backend_redis_advanced.already_serialized` | [`RedisAdvancedBackend`] | `compat = "seed-0.5-raw"` |
/// | `dogpile_backend_redis_advanced_cluster`, `redis_advanced_cluster` | [`RedisAdvancedBackend`] on a cluster | nothing |
/// | `dogpile_backend_redis_advanced_hstore_cluster`, `redis_advanced_hstore_cluster` | [`RedisAdvancedHstoreBackend`] on a cluster | nothing |
/// | `dogpile.cache.redis_cluster` | [`RedisAdvancedBackend`] on a cluster | `compat = "dogpile-1"` |
/// | `dogpile_backend_redis_advanced_sentinel`, `redis_advanced_sentinel` | [`RedisAdvancedBackend`] behind Sentinel | nothing |
/// | `dogpile_backend_redis_advanced_hstore_sentinel`, `redis_advanced_hstore_sentinel` | [`RedisAdvancedHstoreBackend`] behind Sentinel | nothing |
/// | `dogpile.cache.redis_sentinel` | [`RedisAdvancedBackend`] behind Sentinel | `compat = "dogpile-1"` |
///
/// The cluster names read their configuration with
/// [`RedisConfig::cluster_from_arguments`]: `startup_nodes`, or `url` as the node to start from;
/// the sentinel names with [`RedisConfig::sentinel_from_arguments`]: `sentinels`,
/// `service_name`, `sentinel_kwargs`.
///
/// The first two are the names that plugin 0.4.x and 0.5.0 share (0.5.0 registers the plain
/// one only); set `compat` to the deployment's profile with them.
pub const BACKEND_NAMES: [(&str, &str, Option<&str>); 17] = [
    (ADVANCED, ADVANCED, None),
    ("redis_advanced", ADVANCED, None),
    (HSTORE, HSTORE, None),
    ("redis_advanced_hstore", HSTORE, None),
    ("dogpile.cache.redis", ADVANCED, Some("dogpile-1")),
    ("dogpile_backend_redis_advanced.hstore", HSTORE, Some("seed-0.5")),
    ("dogpile_backend_redis_advanced.already_serialized", ADVANCED, Some("seed-0.5-raw")),
    (ADVANCED_CLUSTER, ADVANCED_CLUSTER, None),
    ("redis_advanced_cluster", ADVANCED_CLUSTER, None),
    (HSTORE_CLUSTER, HSTORE_CLUSTER, None),
    ("redis_advanced_hstore_cluster", HSTORE_CLUSTER, None),
    ("dogpile.cache.redis_cluster", ADVANCED_CLUSTER, Some("dogpile-1")),
    (ADVANCED_SENTINEL, ADVANCED_SENTINEL, None),
    ("redis_advanced_sentinel", ADVANCED_SENTINEL, None),
    (HSTORE_SENTINEL, HSTORE_SENTINEL, None),
    ("redis_advanced_hstore_sentinel", HSTORE_SENTINEL, None),
    ("dogpile.cache.redis_sentinel", ADVANCED_SENTINEL, Some("dogpile-1")),
];

/// The names [`register`] gives the backends for Valkey servers, in dogpile.cache's pattern
/// (dogpile.cache 1.x registers `dogpile.cache.valkey`, `dogpile.cache.valkey_sentinel` and
/// `dogpile.cache.valkey_cluster` beside its Redis backends), with the Python deployment each
/// name implies, as in [`BACKEND_NAMES`].
///
/// | name | backend | implies |
/// |---|---|---|
/// | `dogpile.cache.valkey` | [`RedisAdvancedBackend`] | `compat = "dogpile-1"` |
/// | `dogpile.cache.valkey_sentinel` | [`RedisAdvancedBackend`] behind Sentinel | `compat = "dogpile-1"` |
/// | `dogpile.cache.valkey_cluster` | [`RedisAdvancedBackend`] on a cluster | `compat = "dogpile-1"` |
/// | `valkey_advanced`, `valkey_advanced_hstore` | [`RedisAdvancedBackend`], [`RedisAdvancedHstoreBackend`] | nothing |
/// | `valkey_advanced_cluster`, `valkey_advanced_hstore_cluster` | the same on a cluster | nothing |
/// | `valkey_advanced_sentinel`, `valkey_advanced_hstore_sentinel` | the same behind Sentinel | nothing |
///
/// They take the arguments of the Redis names, and read dogpile.cache's Valkey spellings
/// `valkey_expiration_time` and `valkey_expiration_time_hash` as `redis_expiration_time` and
/// `redis_expiration_time_hash` (giving both spellings of one is a configuration error).
pub const VALKEY_BACKEND_NAMES: [(&str, &str, Option<&str>); 9] = [
    ("dogpile.cache.valkey", ADVANCED, Some("dogpile-1")),
    ("dogpile.cache.valkey_sentinel", ADVANCED_SENTINEL, Some("dogpile-1")),
    ("dogpile.cache.valkey_cluster", ADVANCED_CLUSTER, Some("dogpile-1")),
    ("valkey_advanced", ADVANCED, None),
    ("valkey_advanced_hstore", HSTORE, None),
    ("valkey_advanced_cluster", ADVANCED_CLUSTER, None),
    ("valkey_advanced_hstore_cluster", HSTORE_CLUSTER, None),
    ("valkey_advanced_sentinel", ADVANCED_SENTINEL, None),
    ("valkey_advanced_hstore_sentinel", HSTORE_SENTINEL, None),
];

/// Registers both backends with [`dogpile::registry`] under the names of [`BACKEND_NAMES`]
/// and [`VALKEY_BACKEND_NAMES`]. Calling it again is harmless.
///
/// # Examples
///
/// ```
/// use dogpile::config::Arguments;
///
/// dogpile_redis::register();
/// // Python's `dogpile.cache.redis` on dogpile.cache 1.x: pickle in its envelope.
/// let region = dogpile::Region::builder()
///     .configure("dogpile.cache.redis", Arguments::new().with("url", "redis://127.0.0.1:6379/0"))
///     .build()?;
/// assert_eq!(region.codec().format().name(), "pickle");
/// # Ok::<(), dogpile::Error>(())
/// ```
pub fn register() {
    let names = BACKEND_NAMES.iter().map(|&entry| (entry, false));
    for ((name, backend, compat), valkey) in names.chain(VALKEY_BACKEND_NAMES.iter().map(|&entry| (entry, true))) {
        let defaults = match compat {
            Some(profile) => Arguments::new().with("compat", profile),
            None => Arguments::new(),
        };
        dogpile::registry::register_backend_with_defaults(name, defaults, move |args| {
            if valkey { build(backend, &valkey_arguments(args)?) } else { build(backend, args) }
        });
    }
}

/// The backend registered as `backend` (one of the names of the Redis table), from `args`.
fn build(backend: &str, args: &Arguments) -> Result<Arc<dyn DynBackend>> {
    match backend {
        HSTORE => made(RedisAdvancedHstoreBackend::from_arguments(args)?, args),
        HSTORE_CLUSTER => made(RedisAdvancedHstoreBackend::new(RedisConfig::cluster_from_arguments(args)?)?, args),
        ADVANCED_CLUSTER => made(RedisAdvancedBackend::new(RedisConfig::cluster_from_arguments(args)?)?, args),
        HSTORE_SENTINEL => made(RedisAdvancedHstoreBackend::new(RedisConfig::sentinel_from_arguments(args)?)?, args),
        ADVANCED_SENTINEL => made(RedisAdvancedBackend::new(RedisConfig::sentinel_from_arguments(args)?)?, args),
        _ => made(RedisAdvancedBackend::from_arguments(args)?, args),
    }
}

/// `args` with dogpile.cache's Valkey spellings of the expiration arguments read as the Redis
/// ones.
fn valkey_arguments(args: &Arguments) -> Result<Arguments> {
    // A clone: what the backend reads of it counts as read of `args`.
    let mut out = args.clone();
    let spelled: Vec<&str> =
        args.iter().map(|(key, _)| key).filter(|key| key.starts_with("valkey_expiration_time")).collect();
    for key in spelled {
        let redis = key.replacen("valkey_", "redis_", 1);
        if args.contains(&redis) {
            return Err(dogpile::Error::config(
                key,
                format!("give `{key}` or `{redis}`, not both: they are one setting"),
            ));
        }
        // Read here, as the Redis spelling below.
        args.get(key);
        if let Some(value) = out.remove(key) {
            out.insert(redis, value);
        }
    }
    Ok(out)
}

/// Both backends, for [`made`].
trait WithL1: Backend + Sized {
    fn l1(self, l1: L1Builder) -> Result<L1Backend<Self>>;
}

impl WithL1 for RedisAdvancedBackend {
    fn l1(self, l1: L1Builder) -> Result<L1Backend<Self>> {
        self.with_l1(l1)
    }
}

impl WithL1 for RedisAdvancedHstoreBackend {
    fn l1(self, l1: L1Builder) -> Result<L1Backend<Self>> {
        self.with_l1(l1)
    }
}

/// `backend` as the registry gives it: behind an L1 when the arguments have an `l1` table.
fn made<B: WithL1>(backend: B, args: &Arguments) -> Result<Arc<dyn DynBackend>> {
    Ok(match args.get_map("l1")? {
        Some(l1) => Arc::new(backend.l1(L1Builder::from_arguments(l1)?)?),
        None => Arc::new(backend),
    })
}
