//! The distributed lock: names shared with Python, timeouts, takeover, extension, lost locks,
//! and exclusion between processes.

mod support;

use dogpile_testing::fakes::Boom;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dogpile::backend::Backend;
use dogpile::{BackendErrorKind, CacheKey, Error, Region};
use dogpile_redis::{LockLostPolicy, RedisAdvancedBackend, RedisAdvancedHstoreBackend, RedisConfig};
use dogpile_testing::RedisServer;
use dogpile_testing::server::Reply;
use support::calls;

fn locked_config(server: &RedisServer) -> RedisConfig {
    support::config(server).distributed_lock(true)
}

fn hstore_region(config: RedisConfig) -> Region {
    Region::builder().backend(RedisAdvancedHstoreBackend::new(config).unwrap()).build().unwrap()
}

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f).await.expect("timed out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_names_match_the_python_plugin_and_carry_a_ttl() {
    let server = RedisServer::start();
    let underscore = hstore_region(locked_config(&server).lock_prefix("_").unwrap());
    let server_ref = &server;
    let _: u8 = underscore
        .get_or_create(("users", "42"), || async move {
            assert_eq!(
                server_ref.must(&["EXISTS", "_users,42"]),
                Reply::Int(1),
                "lock of a hash key: prefix + name,field"
            );
            match server_ref.must(&["PTTL", "_users,42"]) {
                Reply::Int(ms) => assert!(ms > 0 && ms <= 30_000, "the default lock has a TTL: {ms}"),
                other => panic!("{other:?}"),
            }
            Ok::<_, Boom>(1)
        })
        .await
        .unwrap();
    assert_eq!(server.must(&["EXISTS", "_users,42"]), Reply::Int(0), "released after creation");
    let default = hstore_region(locked_config(&server));
    let _: u8 = default
        .get_or_create("k", || async move {
            assert_eq!(server_ref.must(&["EXISTS", "_lockk"]), Reply::Int(1), "default prefix _lock");
            Ok::<_, Boom>(1)
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn non_blocking_acquire_returns_at_once_and_blocking_honours_the_timeout() {
    let server = RedisServer::start();
    server.must(&["SET", "_lockk", "someone-else", "PX", "60000"]);
    let backend =
        RedisAdvancedBackend::new(locked_config(&server).lock_blocking_timeout(Duration::from_millis(300))).unwrap();
    let mutex = backend.get_mutex(&"k".into()).expect("distributed lock");
    let started = Instant::now();
    assert!(!mutex.acquire(false).await.unwrap());
    assert!(started.elapsed() < Duration::from_millis(200), "non-blocking took {:?}", started.elapsed());
    assert!(mutex.locked().await.unwrap());

    let region = Region::builder().backend(backend).build().unwrap();
    let started = Instant::now();
    let err = region.get_or_create("k", || async { Ok::<_, Boom>(1u8) }).await.unwrap_err();
    let waited = started.elapsed();
    assert!(err.is_timeout() && matches!(err, Error::LockTimeout { .. }), "{err:?}");
    assert_eq!(err.key(), Some(&CacheKey::from("k")));
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(5), "waited {waited:?}");

    let not_blocking = RedisAdvancedBackend::new(locked_config(&server).lock_blocking(false)).unwrap();
    let started = Instant::now();
    assert!(!not_blocking.get_mutex(&"k".into()).unwrap().acquire(true).await.unwrap());
    assert!(started.elapsed() < Duration::from_millis(200));
}

#[tokio::test]
async fn a_lock_left_by_a_dead_process_is_taken_over_after_its_ttl() {
    let server = RedisServer::start();
    // What a process killed while holding the lock leaves behind: a token with a TTL.
    server.must(&["SET", "_lockk", "dead-process-token", "PX", "400"]);
    let region = hstore_region(locked_config(&server));
    let started = Instant::now();
    let v: u8 = within(region.get_or_create("k", || async { Ok::<_, Boom>(7) })).await.unwrap();
    assert_eq!(v, 7);
    assert!(started.elapsed() >= Duration::from_millis(300), "took over only after the TTL: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_creator_keeps_its_lock_alive() {
    let server = RedisServer::start();
    let region = hstore_region(locked_config(&server).lock_timeout(Duration::from_millis(300)));
    let server_ref = &server;
    let _: u8 = region
        .get_or_create("slow", || async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                assert_eq!(
                    server_ref.must(&["EXISTS", "_lockslow"]),
                    Reply::Int(1),
                    "the lock outlives its 300 ms TTL"
                );
            }
            Ok::<_, Boom>(1)
        })
        .await
        .unwrap();
    assert_eq!(server.must(&["EXISTS", "_lockslow"]), Reply::Int(0));
}

async fn create_while_the_lock_vanishes(server: &RedisServer, policy: LockLostPolicy) -> dogpile::Result<u8> {
    let region = hstore_region(locked_config(server).lock_lost(policy));
    region
        .get_or_create("k", || async move {
            // The lock expired, or someone flushed the server.
            server.must(&["DEL", "_lockk"]);
            Ok::<_, Boom>(5)
        })
        .await
}

#[tokio::test]
async fn a_lost_lock_follows_the_policy() {
    a_lost_lock_follows_the_policy_on(RedisServer::start()).await;
}

/// Valkey 9 releases with `DELIFEQ`, no script: the same outcomes.
#[tokio::test]
async fn a_lost_lock_follows_the_policy_on_valkey() {
    a_lost_lock_follows_the_policy_on(RedisServer::start_valkey()).await;
}

async fn a_lost_lock_follows_the_policy_on(server: RedisServer) {
    assert_eq!(create_while_the_lock_vanishes(&server, LockLostPolicy::Ignore).await.unwrap(), 5);
    server.must(&["FLUSHALL"]);

    let err = create_while_the_lock_vanishes(&server, LockLostPolicy::Error).await.unwrap_err();
    assert!(err.is_lock_lost(), "{err:?}");
    assert_eq!(err.key(), Some(&CacheKey::from("k")));
    server.must(&["FLUSHALL"]);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let policy = LockLostPolicy::callback(move |name| log.lock().unwrap().push(name.to_owned()));
    assert_eq!(create_while_the_lock_vanishes(&server, policy).await.unwrap(), 5);
    assert_eq!(*seen.lock().unwrap(), vec!["_lockk".to_string()]);
}

#[tokio::test]
async fn a_lock_taken_over_by_another_holder_is_not_released_by_the_first() {
    taken_over_lock_is_not_released_by_the_first(RedisServer::start()).await;
}

#[tokio::test]
async fn a_lock_taken_over_by_another_holder_is_not_released_by_the_first_on_valkey() {
    taken_over_lock_is_not_released_by_the_first(RedisServer::start_valkey()).await;
}

async fn taken_over_lock_is_not_released_by_the_first(server: RedisServer) {
    let backend = RedisAdvancedBackend::new(locked_config(&server).lock_lost(LockLostPolicy::Error)).unwrap();
    let mutex = backend.get_mutex(&"k".into()).unwrap();
    assert!(mutex.acquire(false).await.unwrap());
    server.must(&["SET", "_lockk", "another-holder", "PX", "60000"]);
    assert!(mutex.release().await.unwrap_err().is_lock_lost());
    assert_eq!(
        server.must(&["GET", "_lockk"]),
        Reply::Bulk(Some(b"another-holder".to_vec())),
        "the other holder keeps its lock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_redis_run_the_creator_once() {
    let server = RedisServer::start();
    // Three "processes": separate backends, connections and in-process lock tables.
    let regions: Vec<Region> = (0..3).map(|_| hstore_region(locked_config(&server))).collect();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for region in &regions {
        for _ in 0..50 {
            let (region, runs) = (region.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                region
                    .get_or_create(("report", "2026"), || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok::<_, Boom>("made once".to_string())
                    })
                    .await
                    .unwrap()
            }));
        }
    }
    for task in tasks {
        assert_eq!(within(task).await.unwrap(), "made once");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one creator run across processes");
    assert!(!regions[0].key_is_locked(("report", "2026")).await.unwrap());
}

/// With a poll interval far longer than the test's deadline, only the announcement of the
/// release can let the waiters of the other processes go on in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_in_other_processes_go_on_when_the_release_is_announced() {
    waiters_go_on_when_the_release_is_announced(RedisServer::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_in_other_processes_go_on_when_the_release_is_announced_on_valkey() {
    waiters_go_on_when_the_release_is_announced(RedisServer::start_valkey()).await;
}

/// Valkey 9 releases locks with `DELIFEQ` and no script; Redis 7.0 with the release script.
#[tokio::test]
async fn locks_are_released_without_a_script_where_the_server_can() {
    for (server, script) in [(RedisServer::start_valkey(), false), (RedisServer::start(), true)] {
        let region = hstore_region(locked_config(&server));
        for key in ["a", "b"] {
            let _: u8 = region.get_or_create(key, || async { Ok::<_, Boom>(1) }).await.unwrap();
        }
        let _: Vec<u8> = region
            .get_or_create_multi(["c", "d"], |keys: Vec<CacheKey>| async move { Ok::<_, Boom>(vec![1; keys.len()]) })
            .await
            .unwrap();
        let (delifeq, evalsha) = (calls(&server, "delifeq"), calls(&server, "evalsha") + calls(&server, "eval"));
        if script {
            assert!(delifeq == 0 && evalsha >= 3, "redis: {delifeq} DELIFEQ, {evalsha} scripts");
        } else {
            assert!(delifeq >= 3 && evalsha == 0, "valkey: {delifeq} DELIFEQ, {evalsha} scripts");
        }
        assert_eq!(server.must(&["KEYS", "_lock*"]), Reply::Array(Some(vec![])), "every lock released");
    }
}

async fn waiters_go_on_when_the_release_is_announced(server: RedisServer) {
    let config = || locked_config(&server).lock_sleep(Duration::from_secs(600));
    let holder = hstore_region(config());
    let waiters: Vec<Region> = (0..2).map(|_| hstore_region(config())).collect();
    let runs = Arc::new(AtomicUsize::new(0));
    let creating = {
        let runs = runs.clone();
        tokio::spawn(async move {
            holder
                .get_or_create(("report", "2027"), || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    Ok::<_, Boom>("made by the holder".to_string())
                })
                .await
                .unwrap()
        })
    };
    // The holder has the lock before the others ask.
    while server.must(&["EXISTS", "_lockreport,2027"]) != Reply::Int(1) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut tasks = Vec::new();
    for region in &waiters {
        for _ in 0..10 {
            let (region, runs) = (region.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                region
                    .get_or_create(("report", "2027"), || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Boom>("made by a waiter".to_string())
                    })
                    .await
                    .unwrap()
            }));
        }
    }
    assert_eq!(within(creating).await.unwrap(), "made by the holder");
    for task in tasks {
        assert_eq!(within(task).await.unwrap(), "made by the holder");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the waiters did not create");
    for region in &waiters {
        assert_eq!(region.stats().waits, 10, "each waiter waited for the holder");
    }
}

#[tokio::test]
async fn key_is_locked_sees_another_process_holding_the_lock() {
    let server = RedisServer::start();
    let region = hstore_region(locked_config(&server));
    assert!(!region.key_is_locked("k").await.unwrap());
    server.must(&["SET", "_lockk", "other", "PX", "60000"]);
    assert!(region.key_is_locked("k").await.unwrap());
}

/// Defect: with Redis refusing writes (noeviction at maxmemory, a read-only replica), taking
/// the distributed lock failed and the creator never ran. Now the lock path behaves like the
/// no-lock path: the in-process lock excludes, the caller gets the created value, and the
/// failed store goes to the error sink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_refuses_writes_still_serves_created_values() {
    for refuse in [&["CONFIG", "SET", "maxmemory", "1"][..], &["REPLICAOF", "127.0.0.1", "1"]] {
        let server = RedisServer::start();
        server.must(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
        let reported = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&reported);
        let region = Region::builder()
            .backend(RedisAdvancedBackend::new(locked_config(&server)).unwrap())
            .on_background_error(move |e| sink.lock().unwrap().push(e.backend_kind()))
            .build()
            .unwrap();
        server.must(refuse);
        let runs = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (region, runs) = (region.clone(), Arc::clone(&runs));
                tokio::spawn(async move {
                    region
                        .get_or_create("k", || async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok::<_, Boom>(7u32)
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(within(task).await.unwrap().unwrap(), 7, "{refuse:?}");
        }
        assert!(runs.load(Ordering::SeqCst) >= 1, "{refuse:?}");
        let reported = reported.lock().unwrap();
        assert!(!reported.is_empty(), "{refuse:?}: the failed store was not reported");
        assert!(reported.iter().all(|k| *k == Some(BackendErrorKind::WritesRefused)), "{reported:?}");
        assert_eq!(server.must(&["DBSIZE"]), Reply::Int(0), "{refuse:?}: nothing was written");
    }
}

#[tokio::test]
async fn a_creation_under_the_lock_takes_three_round_trips() {
    let server = RedisServer::start();
    let proxy = dogpile_testing::CountingProxy::start(server.addr()).await;
    let config = RedisConfig::from_url(proxy.url()).distributed_lock(true);
    let regions = [
        ("advanced", Region::builder().backend(RedisAdvancedBackend::new(config.clone()).unwrap()).build().unwrap()),
        ("hstore", hstore_region(config)),
    ];
    let expiring = dogpile::region::CreateOptions::new().expiration_time(Duration::from_secs(60));
    for (name, region) in regions {
        for key in [CacheKey::from("plain"), CacheKey::hash("h", "f")] {
            if name == "advanced" && key.is_hash() {
                continue;
            }
            server.must(&["FLUSHDB"]);
            // Warm the connection and the release script outside the counts.
            let _: u8 = region.get_or_create("warm", || async { Ok::<_, Boom>(0) }).await.unwrap();
            proxy.reset();
            let got: u8 = region.get_or_create(key.clone(), || async { Ok::<_, Boom>(1) }).await.unwrap();
            assert_eq!(got, 1);
            assert_eq!(proxy.round_trips(), 3, "{name} {key}: read, lock with re-read, write with release");
            assert_eq!(server.must(&["KEYS", "_lock*"]), Reply::Array(Some(Vec::new())), "{name}: released");

            proxy.reset();
            let got: u8 = region.get_or_create(key.clone(), || async { Ok::<_, Boom>(2) }).await.unwrap();
            assert_eq!((got, proxy.round_trips()), (1, 1), "{name} {key}: a hit is one read");

            // An expired value: the same three round trips to regenerate it.
            let stale = dogpile::region::CreateOptions::new().expiration_time(Duration::from_millis(1));
            tokio::time::sleep(Duration::from_millis(5)).await;
            proxy.reset();
            let got: u8 = region.get_or_create_with(key.clone(), &stale, || async { Ok::<_, Boom>(3) }).await.unwrap();
            assert_eq!((got, proxy.round_trips()), (3, 3), "{name} {key}: regenerating an expired value");
            let got: u8 =
                region.get_or_create_with(key.clone(), &expiring, || async { Ok::<_, Boom>(4) }).await.unwrap();
            assert_eq!(got, 3);
        }
    }
}
