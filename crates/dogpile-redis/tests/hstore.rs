//! The hstore backend: the seed's mixed-key scenario, hash TTL policies, WRONGTYPE, and the
//! round trips of each operation.

mod support;

use std::time::Duration;

use dogpile::backend::Backend;
use dogpile::{BackendErrorKind, CacheKey, Region};
use dogpile_redis::{HashTtlPolicy, RedisAdvancedHstoreBackend, RedisConfig};
use dogpile_testing::server::Reply;
use dogpile_testing::{CountingProxy, RedisServer};

/// The seed's keys: `[1..10, ("a",10), ("a",30), ("a",20), ("b",9) ... ("j",1), 11..20]`.
fn seed_keys() -> Vec<(CacheKey, i64)> {
    let mut keys: Vec<(CacheKey, i64)> = (1..=10).map(|n| (CacheKey::from(n.to_string()), n)).collect();
    for (name, n) in [("a", 10), ("a", 30), ("a", 20)] {
        keys.push((CacheKey::hash(name, n.to_string()), n));
    }
    for (i, name) in ["b", "c", "d", "e", "f", "g", "h", "i", "j"].into_iter().enumerate() {
        let n = 9 - i as i64;
        keys.push((CacheKey::hash(name, n.to_string()), n));
    }
    keys.extend((11..=20).map(|n| (CacheKey::from(n.to_string()), n)));
    keys
}

fn region_on(server: &RedisServer, configure: impl FnOnce(RedisConfig) -> RedisConfig) -> Region {
    let backend = RedisAdvancedHstoreBackend::new(configure(RedisConfig::from_url(server.url()))).unwrap();
    Region::builder().backend(backend).build().unwrap()
}

fn pttl(server: &RedisServer, key: &str) -> i64 {
    match server.must(&["PTTL", key]) {
        Reply::Int(n) => n,
        other => server.fail(&format!("PTTL {key}: {other:?}")),
    }
}

#[tokio::test]
async fn seed_mixed_keys_set_get_delete() {
    let keys = seed_keys();
    assert_eq!(keys.len(), 32);
    for policy in [HashTtlPolicy::Never, HashTtlPolicy::OnCreate, HashTtlPolicy::OnEveryWrite] {
        let server = RedisServer::start();
        let region =
            region_on(&server, |c| c.redis_expiration_time(Duration::from_secs(60)).redis_expiration_time_hash(policy));
        region.set_multi(keys.iter().map(|(k, n)| (k.clone(), n * 2))).await.unwrap();
        let got: Vec<Option<i64>> = region.get_multi(keys.iter().map(|(k, _)| k.clone())).await.unwrap();
        assert_eq!(got, keys.iter().map(|(_, n)| Some(n * 2)).collect::<Vec<_>>(), "{policy:?}");
        assert_eq!(server.must(&["HLEN", "a"]), Reply::Int(3), "the fields of one hash share it");
        assert_eq!(server.must(&["TYPE", "1"]), Reply::Status("string".into()));
        region.delete_multi(keys.iter().map(|(k, _)| k.clone())).await.unwrap();
        let gone: Vec<Option<i64>> = region.get_multi(keys.iter().map(|(k, _)| k.clone())).await.unwrap();
        assert!(gone.iter().all(Option::is_none), "{gone:?}");
        assert_eq!(server.must(&["DBSIZE"]), Reply::Int(0), "deleting every field removes the hashes");
    }
}

/// Writes a field, waits, writes another field of the same hash: returns the hash's PTTL after
/// each write.
async fn two_writes(server: &RedisServer, region: &Region, hash: &str, pause: Duration) -> (i64, i64) {
    region.set((hash, "f1"), &1).await.unwrap();
    let first = pttl(server, hash);
    tokio::time::sleep(pause).await;
    region.set_multi([((hash, "f2"), 2)]).await.unwrap();
    (first, pttl(server, hash))
}

#[tokio::test]
async fn hash_ttl_policies_over_repeated_writes() {
    let server = RedisServer::start();
    let ttl = Duration::from_secs(10);
    let every =
        region_on(&server, |c| c.redis_expiration_time(ttl).redis_expiration_time_hash(HashTtlPolicy::OnEveryWrite));
    let create =
        region_on(&server, |c| c.redis_expiration_time(ttl).redis_expiration_time_hash(HashTtlPolicy::OnCreate));
    let never = region_on(&server, |c| c.redis_expiration_time(ttl).redis_expiration_time_hash(HashTtlPolicy::Never));
    let pause = Duration::from_millis(1_200);
    let (e, c, n) = tokio::join!(
        two_writes(&server, &every, "every", pause),
        two_writes(&server, &create, "create", pause),
        two_writes(&server, &never, "never", pause),
    );
    assert!(e.0 > 9_000 && e.1 > 9_500, "true resets the TTL on every write: {e:?}");
    assert!(c.0 > 9_000 && c.1 <= 8_900, "none sets it on creation and lets it run down: {c:?}");
    assert_eq!(n, (-1, -1), "false never sets a TTL");
}

#[tokio::test]
async fn unset_expiration_means_no_ttl_under_every_policy() {
    // The seed sent `EXPIRE hash 0` here, and every hash write vanished at once.
    let server = RedisServer::start();
    for (i, policy) in
        [HashTtlPolicy::OnCreate, HashTtlPolicy::OnEveryWrite, HashTtlPolicy::Never].into_iter().enumerate()
    {
        let region = region_on(&server, |c| c.redis_expiration_time_hash(policy));
        let hash = format!("h{i}");
        region.set((hash.as_str(), "f"), &"kept").await.unwrap();
        region.set_multi([((hash.as_str(), "g"), "kept")]).await.unwrap();
        assert_eq!(pttl(&server, &hash), -1, "{policy:?}");
        assert_eq!(region.get::<String>((hash.as_str(), "f")).await.unwrap().as_deref(), Some("kept"), "{policy:?}");
        region.set("plain", &1).await.unwrap();
        assert_eq!(pttl(&server, "plain"), -1);
    }
}

#[tokio::test]
async fn a_hash_that_expired_between_writes_gets_a_new_ttl() {
    // The seed checked EXISTS, then wrote: a hash expiring in between was re-created with no
    // TTL and never expired. The write and its TTL are now one MULTI/EXEC.
    let server = RedisServer::start();
    let region = region_on(&server, |c| {
        c.redis_expiration_time(Duration::from_secs(1)).redis_expiration_time_hash(HashTtlPolicy::OnCreate)
    });
    region.set(("h", "f"), &1).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.must(&["EXISTS", "h"]) != Reply::Int(0) {
        assert!(std::time::Instant::now() < deadline, "the hash never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    region.set(("h", "g"), &2).await.unwrap();
    let ttl = pttl(&server, "h");
    assert!(ttl > 0 && ttl <= 1_000, "the re-created hash has the TTL again: {ttl}");
    region.set_multi([(("h2", "a"), 1), (("h2", "b"), 2)]).await.unwrap();
    assert!(pttl(&server, "h2") > 0);
}

#[tokio::test]
async fn wrong_types_are_errors_naming_the_key_and_spare_the_batch() {
    let server = RedisServer::start();
    let region = region_on(&server, |c| {
        c.redis_expiration_time(Duration::from_secs(60)).redis_expiration_time_hash(HashTtlPolicy::OnEveryWrite)
    });
    server.must(&["SET", "s", "a string"]);
    server.must(&["HSET", "h", "f", "v"]);

    let err = region.get::<i32>(("s", "f")).await.unwrap_err();
    assert_eq!(err.backend_kind(), Some(BackendErrorKind::WrongType), "{err:?}");
    assert_eq!(err.key(), Some(&CacheKey::hash("s", "f")));
    let err = region.get::<i32>("h").await.unwrap_err();
    assert_eq!((err.backend_kind(), err.key()), (Some(BackendErrorKind::WrongType), Some(&CacheKey::from("h"))));
    let err = region.get_multi::<i32, _>([CacheKey::from("x"), CacheKey::hash("s", "f")]).await.unwrap_err();
    assert_eq!(err.key(), Some(&CacheKey::hash("s", "f")));

    let err = region
        .set_multi([
            (CacheKey::from("ok1"), 1),
            (CacheKey::hash("s", "f"), 2),
            (CacheKey::from("ok2"), 3),
            (CacheKey::hash("good", "f"), 4),
        ])
        .await
        .unwrap_err();
    assert_eq!(
        (err.backend_kind(), err.key()),
        (Some(BackendErrorKind::WrongType), Some(&CacheKey::hash("s", "f"))),
        "{err}"
    );
    let others: Vec<Option<i32>> =
        region.get_multi([CacheKey::from("ok1"), CacheKey::from("ok2"), CacheKey::hash("good", "f")]).await.unwrap();
    assert_eq!(others, vec![Some(1), Some(3), Some(4)], "the other keys of the batch were written");
    assert_eq!(server.must(&["GET", "s"]), Reply::Bulk(Some(b"a string".to_vec())), "the string at s is untouched");
    assert!(err.to_string().contains("(\"s\", \"f\")"), "{err}");
}

fn mixed_100() -> Vec<CacheKey> {
    let mut keys: Vec<CacheKey> = (0..50).map(|i| CacheKey::from(format!("plain:{i}"))).collect();
    keys.extend((0..50).map(|i| CacheKey::hash(format!("hash:{}", i % 10), format!("field:{i}"))));
    keys
}

#[tokio::test]
async fn every_multi_operation_and_a_hash_write_with_its_ttl_is_one_round_trip() {
    let server = RedisServer::start();
    let proxy = CountingProxy::start(server.addr()).await;
    for policy in [HashTtlPolicy::OnCreate, HashTtlPolicy::OnEveryWrite, HashTtlPolicy::Never] {
        let backend = RedisAdvancedHstoreBackend::new(
            RedisConfig::from_url(proxy.url())
                .redis_expiration_time(Duration::from_secs(3600))
                .redis_expiration_time_hash(policy),
        )
        .unwrap();
        let keys = mixed_100();
        let items: Vec<(CacheKey, dogpile::Bytes)> =
            keys.iter().map(|k| (k.clone(), dogpile::Bytes::from(k.to_string()))).collect();
        backend.get(&"warm-up".into()).await.unwrap();

        let measure =
            async |what: &str,
                   expected_commands: Option<u64>,
                   op: std::pin::Pin<Box<dyn Future<Output = dogpile::Result<()>> + '_>>| {
                proxy.reset();
                server.reset_stats();
                op.await.unwrap();
                assert_eq!(proxy.round_trips(), 1, "{what} ({policy:?}) must be one round trip");
                if let Some(expected) = expected_commands {
                    assert_eq!(server.command_count(), expected, "{what} ({policy:?}) commands");
                }
            };
        // Per hash: HSET; or, with a TTL, one script of EVALSHA, (EXISTS,) HSET and PEXPIRE,
        // after the SCRIPT LOAD that the first write sends in the same round trip.
        let (per_hash, load) = match policy {
            HashTtlPolicy::Never => (1, 0),
            HashTtlPolicy::OnEveryWrite => (3, 1),
            _ => (4, 1),
        };
        let commands = 50 + 10 * per_hash + load;
        measure("set_multi of 100 mixed keys", Some(commands), Box::pin(backend.set_multi(&items))).await;
        measure(
            "get_multi of 100 mixed keys",
            Some(1 + 10),
            Box::pin(async {
                let got = backend.get_multi(&keys).await?;
                assert!(got.iter().all(Option::is_some));
                Ok(())
            }),
        )
        .await;
        measure("a hash write with its TTL", None, Box::pin(backend.set(&CacheKey::hash("hash:0", "new"), "v".into())))
            .await;
        measure("a plain write with its TTL", Some(1), Box::pin(backend.set(&"plain:new".into(), "v".into()))).await;
        measure("delete_multi of 100 mixed keys", Some(1 + 10), Box::pin(backend.delete_multi(&keys))).await;
    }
}

/// Defect: policy none set a TTL on an existing hash that had none (`EXPIRE .. NX`); the
/// plugin sets it only when the write creates the hash.
#[tokio::test]
async fn policy_none_sets_the_ttl_only_on_the_write_that_creates_the_hash() {
    let server = RedisServer::start();
    let region = region_on(&server, |c| {
        c.redis_expiration_time(Duration::from_secs(60)).redis_expiration_time_hash(HashTtlPolicy::OnCreate)
    });
    server.must(&["HSET", "existing", "other", "x"]);
    region.set(("existing", "f"), &1).await.unwrap();
    region.set_multi([(("existing", "g"), 2)]).await.unwrap();
    assert_eq!(pttl(&server, "existing"), -1, "a hash that existed without a TTL keeps none");
    region.set_multi([(("fresh", "a"), 1), (("fresh", "b"), 2)]).await.unwrap();
    let ttl = pttl(&server, "fresh");
    assert!(ttl > 59_000, "the write that created the hash set its TTL: {ttl}");
    let got: Vec<Option<i32>> = region.get_multi([("existing", "f"), ("existing", "g"), ("fresh", "b")]).await.unwrap();
    assert_eq!(got, [Some(1), Some(2), Some(2)]);
}

/// Defect: a hash write on a key of another type failed with WRONGTYPE, but the EXPIRE queued
/// in the same MULTI/EXEC still ran, so someone else's key vanished a minute later.
#[tokio::test]
async fn a_failed_hash_write_sets_no_ttl_on_a_key_of_another_type() {
    let server = RedisServer::start();
    server.must(&["SET", "wt:str", "hello"]);
    server.must(&["RPUSH", "wt:list", "a"]);
    for policy in [HashTtlPolicy::OnCreate, HashTtlPolicy::OnEveryWrite] {
        let region =
            region_on(&server, |c| c.redis_expiration_time(Duration::from_secs(60)).redis_expiration_time_hash(policy));
        let err = region.set(("wt:str", "f"), &1).await.unwrap_err();
        assert_eq!(err.backend_kind(), Some(BackendErrorKind::WrongType), "{policy:?}: {err}");
        let err =
            region.set_multi([(CacheKey::hash("wt:list", "f"), 1), (CacheKey::hash("ok", "f"), 2)]).await.unwrap_err();
        assert_eq!(err.key(), Some(&CacheKey::hash("wt:list", "f")), "{policy:?}: {err}");
        for key in ["wt:str", "wt:list"] {
            assert_eq!(pttl(&server, key), -1, "{policy:?}: {key} got a TTL");
        }
        assert_eq!(server.must(&["GET", "wt:str"]), Reply::Bulk(Some(b"hello".to_vec())));
        assert_eq!(server.must(&["LLEN", "wt:list"]), Reply::Int(1));
        assert_eq!(region.get::<i32>(("ok", "f")).await.unwrap(), Some(2), "the rest of the batch was written");
    }
}

#[tokio::test]
async fn hash_writes_survive_a_server_that_lost_its_scripts() {
    let server = RedisServer::start();
    let region = region_on(&server, |c| c.redis_expiration_time(Duration::from_secs(60)));
    region.set(("h", "a"), &1).await.unwrap();
    server.must(&["SCRIPT", "FLUSH"]);
    region.set(("h", "b"), &2).await.unwrap();
    assert_eq!(region.get::<i32>(("h", "b")).await.unwrap(), Some(2));
    // Many fields in one hash: the script writes them in slices.
    let many: Vec<((String, String), u32)> = (0..5_000).map(|i| (("big".to_owned(), i.to_string()), i)).collect();
    region.set_multi(many.clone()).await.unwrap();
    assert_eq!(server.must(&["HLEN", "big"]), Reply::Int(5_000));
    assert!(pttl(&server, "big") > 59_000);
}
