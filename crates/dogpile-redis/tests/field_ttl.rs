//! Per-field TTLs in hashes (`redis_expiration_time_hash = "per_field"`): on Valkey 9 with
//! `HSETEX`, on Valkey 9 without it (`HSET` and `HPEXPIRE` in a transaction, as on Redis 7.4),
//! and the clear error on Redis 7.0; beside the hash-wide policies on both servers.

mod support;

use std::time::Duration;

use dogpile::backend::Backend;
use dogpile::{Bytes, CacheKey, Error};
use dogpile_redis::{HashTtlPolicy, RedisAdvancedHstoreBackend, RedisConfig};
use dogpile_testing::server::Reply;
use dogpile_testing::{CountingProxy, RedisServer};
use support::config;

fn hstore(server: &RedisServer, ttl: Duration, policy: HashTtlPolicy) -> RedisAdvancedHstoreBackend {
    RedisAdvancedHstoreBackend::new(config(server).redis_expiration_time(ttl).redis_expiration_time_hash(policy))
        .expect("backend")
}

/// A Valkey 9 server, and one that lacks `HSETEX` as Redis 7.4 does.
fn valkeys() -> [(&'static str, RedisServer); 2] {
    let without_hsetex =
        RedisServer::start_with(&dogpile_testing::server::valkey_binary(), &["--rename-command", "HSETEX", ""]);
    [("valkey 9", RedisServer::start_valkey()), ("valkey 9 without HSETEX", without_hsetex)]
}

fn int(reply: Reply) -> i64 {
    match reply {
        Reply::Int(n) => n,
        Reply::Array(Some(items)) if items.len() == 1 => int(items[0].clone()),
        other => panic!("not an integer: {other:?}"),
    }
}

fn field_ttl_ms(server: &RedisServer, hash: &str, field: &str) -> i64 {
    int(server.must(&["HPTTL", hash, "FIELDS", "1", field]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_field_expires_while_its_siblings_stay() {
    for (label, server) in valkeys() {
        let backend = hstore(&server, Duration::from_millis(800), HashTtlPolicy::PerField);
        backend.check().await.unwrap_or_else(|e| panic!("{label}: {e}"));
        let (first, second) = (CacheKey::hash("h", "first"), CacheKey::hash("h", "second"));
        backend.set(&first, Bytes::from_static(b"1")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        backend.set(&second, Bytes::from_static(b"2")).await.unwrap();
        // The hash has no TTL of its own; each field has its own.
        assert_eq!(int(server.must(&["PTTL", "h"])), -1, "{label}");
        assert!((1..=800).contains(&field_ttl_ms(&server, "h", "second")), "{label}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(backend.get(&first).await.unwrap(), None, "{label}: the first field outlived its TTL");
        assert_eq!(backend.get(&second).await.unwrap().as_deref(), Some(&b"2"[..]), "{label}: the sibling went too");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_multi_over_several_hashes_gives_every_field_its_ttl_in_one_round_trip() {
    for (label, server) in valkeys() {
        let proxy = CountingProxy::start(server.addr()).await;
        let backend = RedisAdvancedHstoreBackend::new(
            RedisConfig::from_url(proxy.url())
                .redis_expiration_time(Duration::from_secs(60))
                .redis_expiration_time_hash(HashTtlPolicy::PerField),
        )
        .unwrap();
        backend.check().await.unwrap();
        let items: Vec<(CacheKey, Bytes)> = (0..3)
            .flat_map(|h| (0..4).map(move |f| CacheKey::hash(format!("h{h}"), format!("f{f}"))))
            .chain([CacheKey::from("plain")])
            .map(|key| (key, Bytes::from_static(b"v")))
            .collect();
        proxy.reset();
        backend.set_multi(&items).await.unwrap();
        assert_eq!(proxy.round_trips(), 1, "{label}");
        for (key, _) in &items {
            match key {
                CacheKey::Hash { name, field } => {
                    assert!((1..=60_000).contains(&field_ttl_ms(&server, name, field)), "{label}: {key:?}");
                    assert_eq!(int(server.must(&["PTTL", name])), -1, "{label}: {name} got a TTL of its own");
                }
                _ => assert!(int(server.must(&["PTTL", "plain"])) > 0, "{label}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_write_to_a_key_of_another_type_is_an_error_and_writes_nothing() {
    for (label, server) in valkeys() {
        server.must(&["SET", "s", "a string"]);
        let backend = hstore(&server, Duration::from_secs(60), HashTtlPolicy::PerField);
        let err = backend.set(&CacheKey::hash("s", "f"), Bytes::from_static(b"v")).await.unwrap_err();
        assert!(err.to_string().contains("WRONGTYPE"), "{label}: {err}");
        assert_eq!(server.must(&["GET", "s"]).as_text().as_deref(), Some("a string"), "{label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_field_on_redis_7_0_is_a_clear_error_never_a_hash_wide_ttl() {
    let server = RedisServer::start();
    let backend = hstore(&server, Duration::from_secs(60), HashTtlPolicy::PerField);
    let err = backend.check().await.unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("HSETEX") && err.to_string().contains("per_field"), "{err}");
    let err = backend.set(&CacheKey::hash("h", "f"), Bytes::from_static(b"v")).await.unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert_eq!(int(server.must(&["EXISTS", "h"])), 0, "nothing was written");
    // Plain keys need no field TTLs.
    backend.set(&CacheKey::from("plain"), Bytes::from_static(b"v")).await.unwrap();
    assert!(int(server.must(&["PTTL", "plain"])) > 0);
}

/// The policy matrix on Redis 7.0 and Valkey 9: what the hash and its field get.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_matrix_on_redis_and_valkey() {
    for (label, server) in [("redis 7.0", RedisServer::start()), ("valkey 9", RedisServer::start_valkey())] {
        for policy in
            [HashTtlPolicy::Never, HashTtlPolicy::OnCreate, HashTtlPolicy::OnEveryWrite, HashTtlPolicy::PerField]
        {
            let backend = hstore(&server, Duration::from_secs(60), policy);
            let name = format!("{policy:?}");
            let written = backend.set(&CacheKey::hash(name.as_str(), "f"), Bytes::from_static(b"v")).await;
            let hash_ttl = int(server.must(&["PTTL", &name]));
            match (policy, label) {
                (HashTtlPolicy::Never, _) => assert_eq!(hash_ttl, -1, "{label} {name}"),
                (HashTtlPolicy::OnCreate | HashTtlPolicy::OnEveryWrite, _) => {
                    assert!((1..=60_000).contains(&hash_ttl), "{label} {name}: {hash_ttl}")
                }
                (HashTtlPolicy::PerField, "redis 7.0") => {
                    assert!(matches!(written, Err(Error::Config { .. })), "{label}: {written:?}");
                    assert_eq!(hash_ttl, -2, "{label}: written anyway");
                    continue;
                }
                (HashTtlPolicy::PerField, _) => {
                    assert_eq!(hash_ttl, -1, "{label} {name}");
                    assert!((1..=60_000).contains(&field_ttl_ms(&server, &name, "f")), "{label}");
                }
                _ => unreachable!(),
            }
            written.unwrap_or_else(|e| panic!("{label} {name}: {e}"));
        }
    }
}

#[test]
fn per_field_is_read_from_the_arguments() {
    use dogpile::config::Arguments;
    let args = Arguments::new().with("url", "redis://127.0.0.1:1/0").with("redis_expiration_time_hash", "per_field");
    let config = RedisConfig::from_arguments(&args).unwrap();
    assert!(format!("{config:?}").contains("redis_expiration_time_hash: PerField"), "{config:?}");
    let args = args.with("redis_expiration_time_hash", "sometimes");
    let err = RedisConfig::from_arguments(&args).unwrap_err();
    assert!(err.to_string().contains("per_field"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_field_is_refused_when_the_backend_is_connected_to_a_server_without_field_ttls() {
    let redis_7_0 = RedisServer::start();
    let per_field = |server: &RedisServer| {
        config(server)
            .redis_expiration_time(Duration::from_secs(60))
            .redis_expiration_time_hash(HashTtlPolicy::PerField)
    };
    let err = RedisAdvancedHstoreBackend::connect(per_field(&redis_7_0)).await.unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("per_field") && err.to_string().contains("HSETEX"), "{err}");
    // The hash-wide policies need nothing of the server.
    let on_create = config(&redis_7_0).redis_expiration_time(Duration::from_secs(60));
    RedisAdvancedHstoreBackend::connect(on_create).await.unwrap();
    for (label, server) in valkeys() {
        let backend =
            RedisAdvancedHstoreBackend::connect(per_field(&server)).await.unwrap_or_else(|e| panic!("{label}: {e}"));
        backend.set(&CacheKey::hash("h", "f"), Bytes::from_static(b"v")).await.unwrap();
        assert!(field_ttl_ms(&server, "h", "f") > 0, "{label}");
    }
}

#[tokio::test]
async fn connect_fails_at_once_on_a_server_that_is_not_there() {
    let port = dogpile_testing::server::free_port();
    let config = RedisConfig::from_url(format!("redis://127.0.0.1:{port}/0"));
    let err = RedisAdvancedHstoreBackend::connect(config.clone()).await.unwrap_err();
    assert_eq!(err.backend_kind(), Some(dogpile::BackendErrorKind::Connection), "{err:?}");
    let err = dogpile_redis::RedisAdvancedBackend::connect(config).await.unwrap_err();
    assert_eq!(err.backend_kind(), Some(dogpile::BackendErrorKind::Connection), "{err:?}");
}
