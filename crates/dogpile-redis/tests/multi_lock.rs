//! `get_or_create_multi` under the distributed lock: the missing keys' locks in one round trip
//! with their re-read, the values and the releases in another, whatever the number of misses;
//! and the dogpile semantics per key when another process holds some of the locks.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dogpile::{CacheKey, MockClock, Region};
use dogpile_redis::{RedisAdvancedBackend, RedisAdvancedHstoreBackend, RedisConfig};
use dogpile_testing::server::Reply;
use dogpile_testing::{CountingProxy, RedisServer};
use support::calls;
use tokio::sync::{Semaphore, oneshot};

fn locked(url: String) -> RedisConfig {
    RedisConfig::from_url(url).distributed_lock(true).redis_expiration_time(Duration::from_secs(3600))
}

fn plain_keys(n: usize) -> Vec<CacheKey> {
    (0..n).map(|i| CacheKey::from(format!("k:{i:03}"))).collect()
}

fn mixed_keys(n: usize) -> Vec<CacheKey> {
    (0..n)
        .map(|i| match i % 2 {
            0 => CacheKey::from(format!("k:{i:03}")),
            _ => CacheKey::hash(format!("h:{}", i % 7), format!("f:{i:03}")),
        })
        .collect()
}

/// The value a creator makes for `key`.
fn value_of(key: &CacheKey) -> String {
    format!("v-{key}")
}

fn lock_keys(server: &RedisServer) -> Vec<Vec<u8>> {
    match server.must(&["KEYS", "_lock*"]) {
        Reply::Array(keys) => keys
            .unwrap_or_default()
            .into_iter()
            .map(|k| match k {
                Reply::Bulk(Some(k)) => k,
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// Runs `get_or_create_multi` over `keys` and checks every value; gives the keys the creator
/// was asked for.
async fn read_through(region: &Region, keys: &[CacheKey]) -> Vec<CacheKey> {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let got: Vec<String> = region
        .get_or_create_multi(keys.iter().cloned(), |missing: Vec<CacheKey>| {
            let asked = Arc::clone(&asked);
            async move {
                asked.lock().unwrap().extend(missing.iter().cloned());
                Ok::<_, std::io::Error>(missing.iter().map(value_of).collect())
            }
        })
        .await
        .unwrap();
    let expected: Vec<String> = keys.iter().map(value_of).collect();
    assert_eq!(got, expected);
    asked.lock().unwrap().clone()
}

#[tokio::test]
async fn misses_under_the_distributed_lock_take_three_round_trips_whatever_their_number() {
    let server = RedisServer::start();
    let proxy = CountingProxy::start(server.addr()).await;
    let cases: [(&str, Region, Vec<CacheKey>); 2] = [
        (
            "advanced",
            Region::builder().backend(RedisAdvancedBackend::new(locked(proxy.url())).unwrap()).build().unwrap(),
            plain_keys(100),
        ),
        (
            "hstore",
            Region::builder().backend(RedisAdvancedHstoreBackend::new(locked(proxy.url())).unwrap()).build().unwrap(),
            mixed_keys(100),
        ),
    ];
    for (name, region, keys) in cases {
        server.must(&["FLUSHDB"]);
        // Warm the connection (and the hash write script) outside the counts.
        let _ = read_through(&region, &keys[..1]).await;
        for present in [90, 50, 0] {
            server.must(&["FLUSHDB"]);
            let _ = read_through(&region, &keys[..present]).await;
            proxy.reset();
            let asked = read_through(&region, &keys).await;
            let mut expected: Vec<CacheKey> = keys[present..].to_vec();
            expected.sort();
            assert_eq!(asked, expected, "{name}: the creator gets the missing keys, once, in sorted order");
            assert_eq!(
                proxy.round_trips(),
                3,
                "{name}, {} misses: read, lock and re-read, write and release",
                100 - present
            );
            assert!(lock_keys(&server).is_empty(), "{name}: every lock is released");
        }
        proxy.reset();
        assert!(read_through(&region, &keys).await.is_empty());
        assert_eq!(proxy.round_trips(), 1, "{name}: all hits are one read");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_locked_by_another_process_is_waited_for_while_the_others_are_created() {
    let server = RedisServer::start();
    let config = locked(server.url()).lock_sleep(Duration::from_millis(20));
    let region = Region::builder().backend(RedisAdvancedBackend::new(config).unwrap()).build().unwrap();
    let keys = plain_keys(6);
    // Another process holds the lock of k:003 and is creating it.
    server.must(&["SET", "_lockk:003", "another-token", "PX", "10000"]);
    let other = tokio::spawn({
        let server_url = server.url();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let region = Region::builder()
                .backend(RedisAdvancedBackend::new(RedisConfig::from_url(server_url)).unwrap())
                .build()
                .unwrap();
            region.set("k:003", &"from-the-other-process".to_owned()).await.unwrap();
        }
    });
    let created = AtomicUsize::new(0);
    let created = &created;
    let release_after_write = {
        let server = &server;
        async move {
            // Once the other process wrote its value, it releases its lock.
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if server.must(&["EXISTS", "k:003"]) == Reply::Int(1) {
                    server.must(&["DEL", "_lockk:003"]);
                    return;
                }
            }
        }
    };
    let read = region.get_or_create_multi(keys.iter().cloned(), |missing: Vec<CacheKey>| async move {
        created.fetch_add(missing.len(), Ordering::SeqCst);
        assert!(!missing.contains(&CacheKey::from("k:003")), "the held key is not created here: {missing:?}");
        Ok::<_, std::io::Error>(missing.iter().map(value_of).collect::<Vec<String>>())
    });
    let (got, ()) = tokio::time::timeout(Duration::from_secs(20), async { tokio::join!(read, release_after_write) })
        .await
        .expect("the call must finish once the other process released its lock");
    other.await.unwrap();
    let got = got.unwrap();
    assert_eq!(got[3], "from-the-other-process", "the waited-for key has the other process's value");
    for (i, key) in keys.iter().enumerate().filter(|(i, _)| *i != 3) {
        assert_eq!(got[i], value_of(key));
    }
    assert_eq!(created.load(Ordering::SeqCst), 5, "the five other keys were created");
    assert!(lock_keys(&server).is_empty(), "no lock is left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_callers_with_overlapping_batches_never_wait_for_each_other() {
    let server = RedisServer::start();
    let config = locked(server.url()).lock_sleep(Duration::from_millis(5));
    // Two regions: two processes as far as the locks go.
    let a = Region::builder().backend(RedisAdvancedBackend::new(config.clone()).unwrap()).build().unwrap();
    let b = Region::builder().backend(RedisAdvancedBackend::new(config).unwrap()).build().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    for round in 0..20 {
        server.must(&["FLUSHDB"]);
        let keys = plain_keys(30);
        let (first, second) = (keys[..20].to_vec(), keys[10..].to_vec());
        let call = |region: Region, keys: Vec<CacheKey>| {
            let runs = Arc::clone(&runs);
            async move {
                region
                    .get_or_create_multi(keys.clone(), |missing: Vec<CacheKey>| async move {
                        runs.fetch_add(missing.len(), Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        Ok::<_, std::io::Error>(missing.iter().map(value_of).collect::<Vec<String>>())
                    })
                    .await
                    .map(|values| (keys, values))
            }
        };
        let both = async { tokio::join!(tokio::spawn(call(a.clone(), first)), tokio::spawn(call(b.clone(), second))) };
        let (x, y) = tokio::time::timeout(Duration::from_secs(20), both).await.expect("no deadlock");
        for result in [x.unwrap(), y.unwrap()] {
            let (keys, values) = result.unwrap();
            assert_eq!(values, keys.iter().map(value_of).collect::<Vec<_>>(), "round {round}");
        }
        assert!(lock_keys(&server).is_empty(), "round {round}: no lock left");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 20 * 30, "each key created once per round");
}

/// A region on `url` under the distributed lock whose values expire after 10 s of its clock.
fn expiring_region(url: String) -> (Region, MockClock) {
    let clock = MockClock::at_system_time();
    let region = Region::builder()
        .clock(clock.clone())
        .expiration_time(Duration::from_secs(10))
        .backend(RedisAdvancedBackend::new(locked(url)).unwrap())
        .build()
        .unwrap();
    (region, clock)
}

/// Another task regenerating `key`, held in its creator until a permit is added to the
/// semaphore given back; it makes `"new"`.
async fn regenerating(
    region: &Region,
    key: &CacheKey,
) -> (tokio::task::JoinHandle<dogpile::Result<String>>, Arc<Semaphore>) {
    let release = Arc::new(Semaphore::new(0));
    let (entered, in_creator) = oneshot::channel();
    let task = tokio::spawn({
        let (region, key, release) = (region.clone(), key.clone(), Arc::clone(&release));
        async move {
            region
                .get_or_create(key, || async move {
                    let _ = entered.send(());
                    let _permit = release.acquire().await;
                    Ok::<_, std::io::Error>("new".to_owned())
                })
                .await
        }
    });
    in_creator.await.unwrap();
    (task, release)
}

/// While another task of the process regenerates the first key of a batch, a caller of the
/// batch serves every expired key stale and tries none of the other keys' locks. Were it to
/// take them, two tasks running the same batch could split it, one holding the first key and
/// the other the rest, and neither would create the whole batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_first_key_another_task_regenerates_tries_no_other_lock() {
    let server = RedisServer::start();
    let (region, clock) = expiring_region(server.url());
    let keys = plain_keys(5);
    region.set_multi(keys.iter().map(|k| (k.clone(), "old".to_owned()))).await.unwrap();
    clock.advance(Duration::from_secs(11));

    let (first, release) = regenerating(&region, &keys[0]).await;

    let sets = calls(&server, "set");
    let created = AtomicUsize::new(0);
    let got: Vec<String> = region
        .get_or_create_multi(keys.iter().cloned(), |missing: Vec<CacheKey>| {
            created.fetch_add(missing.len(), Ordering::SeqCst);
            async move { Ok::<_, std::io::Error>(missing.iter().map(value_of).collect()) }
        })
        .await
        .unwrap();
    assert_eq!(got, vec!["old"; 5], "every expired key is served stale");
    assert_eq!(created.load(Ordering::SeqCst), 0, "nothing is created behind the first key");
    assert_eq!(calls(&server, "set") - sets, 0, "no lock is tried behind the first key");

    release.add_permits(1);
    assert_eq!(first.await.unwrap().unwrap(), "new");
    assert!(lock_keys(&server).is_empty(), "no lock is left behind");
}

/// While another task of the process regenerates the first key of a batch, the batch's
/// missing keys are still locked together: one round trip for their locks and re-read, as
/// without the other task, not one per key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_keys_behind_a_key_another_task_regenerates_are_locked_in_one_round_trip() {
    let server = RedisServer::start();
    let proxy = CountingProxy::start(server.addr()).await;
    let (region, clock) = expiring_region(proxy.url());
    let keys = plain_keys(20);
    // Warm the connection and the release script outside the counts.
    let _ = read_through(&region, &[CacheKey::from("warm")]).await;
    region.set(keys[0].clone(), &"old".to_owned()).await.unwrap();
    clock.advance(Duration::from_secs(11));

    let (first, release) = regenerating(&region, &keys[0]).await;

    proxy.reset();
    let created = Mutex::new(Vec::new());
    let got: Vec<String> = region
        .get_or_create_multi(keys.iter().cloned(), |missing: Vec<CacheKey>| {
            created.lock().unwrap().extend(missing.iter().cloned());
            async move { Ok::<_, std::io::Error>(missing.iter().map(value_of).collect()) }
        })
        .await
        .unwrap();
    assert_eq!(got[0], "old", "the key being regenerated is served stale");
    assert_eq!(got[1..], keys[1..].iter().map(value_of).collect::<Vec<_>>()[..]);
    assert_eq!(*created.lock().unwrap(), keys[1..].to_vec(), "the 19 missing keys, in one creator call");
    assert_eq!(proxy.round_trips(), 3, "read, lock and re-read, write and release");

    release.add_permits(1);
    assert_eq!(first.await.unwrap().unwrap(), "new");
    assert!(lock_keys(&server).is_empty(), "no lock is left behind");
}
