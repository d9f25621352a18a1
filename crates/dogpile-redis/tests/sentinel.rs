//! Both backends behind Sentinel: the conformance suite, credentials for the servers and the
//! sentinels, and a failover under load followed by the backend.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dogpile::Region;
use dogpile::codec::{Codec, Envelope, Format};
use dogpile::config::Arguments;
use dogpile_redis::{RedisAdvancedBackend, RedisAdvancedHstoreBackend};
use dogpile_testing::ServerExt;
use dogpile_testing::{Fixture, RedisSentinelSet};
use support::sentinel_config;

fn advanced_sentinel() -> Fixture {
    let set = RedisSentinelSet::start(None, None);
    let backend = RedisAdvancedBackend::new(sentinel_config(&set).distributed_lock(true)).unwrap();
    Fixture::new(backend).keep(set)
}

fn hstore_sentinel_configured() -> Fixture {
    dogpile_redis::register();
    let set = RedisSentinelSet::start(Some("server-pw"), Some("sentinel-pw"));
    let args = Arguments::new()
        .with("sentinels", set.sentinel_addrs().join(","))
        .with("service_name", dogpile_testing::sentinel::SERVICE)
        .with("password", "server-pw")
        .with("sentinel_kwargs", Arguments::new().with("password", "sentinel-pw"))
        .with("redis_expiration_time", 60)
        .with("distributed_lock", true)
        .with("lock_sleep", 0.005);
    Fixture::configured(dogpile_redis::HSTORE_SENTINEL, args)
        .with_codec(Codec::new(Format::Json, Envelope::Dogpile1))
        .keep(set)
}

dogpile_testing::conformance!(advanced_behind_sentinel, advanced_sentinel);
dogpile_testing::conformance!(hstore_behind_sentinel_with_credentials, hstore_sentinel_configured);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_under_load_is_followed() {
    let mut set = RedisSentinelSet::start(None, None);
    set.wait_until_failover_ready(Duration::from_secs(30));
    let config = sentinel_config(&set)
        .socket_timeout(Duration::from_millis(500))
        .socket_connect_timeout(Duration::from_millis(500))
        .distributed_lock(true);
    let region = Region::builder()
        .expiration_time(Duration::from_millis(300))
        .backend(RedisAdvancedHstoreBackend::new(config).unwrap())
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let last_ok = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..8u64)
        .map(|id| {
            let (region, stop, last_ok) = (region.clone(), stop.clone(), last_ok.clone());
            tokio::spawn(async move {
                let (mut calls, mut errors, mut hung, mut wrong) = (0u64, Vec::new(), 0u64, Vec::new());
                let mut n = id;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let key = dogpile::CacheKey::hash(format!("sh{}", n % 7), format!("f{}", n % 50));
                    calls += 1;
                    let call = region.get_or_create(&key, || async { Ok::<_, std::io::Error>(key.to_string()) });
                    match tokio::time::timeout(Duration::from_secs(10), call).await {
                        Err(_) => hung += 1,
                        Ok(Err(err)) => {
                            errors.push(err.backend_kind());
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Ok(Ok(value)) => {
                            if value != key.to_string() {
                                wrong.push(value);
                            }
                            last_ok.fetch_max(start.elapsed().as_millis() as u64, Ordering::Relaxed);
                        }
                    }
                    tokio::task::yield_now().await;
                }
                (calls, errors, hung, wrong)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let old = set.kill_primary();
    let killed = Instant::now();
    let new = set.wait_for_new_primary(old, Duration::from_secs(30));
    let promoted_after = killed.elapsed();
    let recovered = loop {
        let mark = start.elapsed().as_millis() as u64;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if last_ok.load(Ordering::Relaxed) > mark {
            break killed.elapsed();
        }
        assert!(killed.elapsed() < Duration::from_secs(30), "no call succeeded after the failover");
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut calls, mut errors, mut hung, mut wrong) = (0, Vec::new(), 0, Vec::new());
    for task in tasks {
        let (c, e, h, w) = task.await.expect("a caller panicked");
        calls += c;
        errors.extend(e);
        hung += h;
        wrong.extend(w);
    }
    eprintln!(
        "sentinel failover {old} -> {new}: promoted after {promoted_after:?}, calls succeed {recovered:?} after the \
         kill; {calls} calls, {} errors {:?}",
        errors.len(),
        errors.iter().map(|k| format!("{k:?}")).collect::<std::collections::BTreeSet<_>>()
    );
    assert_eq!(hung, 0);
    assert!(wrong.is_empty(), "{wrong:?}");
    assert!(
        errors
            .iter()
            .all(|k| matches!(k, Some(dogpile::BackendErrorKind::Connection | dogpile::BackendErrorKind::Timeout))),
        "{errors:?}"
    );
    // The backend writes to the new primary now.
    region.set("after", &1u8).await.unwrap();
    let on_new = set.server_named(new).unwrap();
    assert_eq!(on_new.must(&["EXISTS", "after"]), dogpile_testing::server::Reply::Int(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l1_follows_a_failover_and_tracks_on_the_new_primary() {
    use dogpile::backend::{Backend, L1Backend, L1Status};
    use dogpile::{Bytes, CacheKey};
    let mut set = RedisSentinelSet::start(None, None);
    set.wait_until_failover_ready(Duration::from_secs(30));
    let config = sentinel_config(&set)
        .socket_timeout(Duration::from_millis(500))
        .socket_connect_timeout(Duration::from_millis(500));
    let l1 = support::with_l1(RedisAdvancedBackend::new(config).unwrap().with_l1(L1Backend::builder()));
    let key = CacheKey::from("k");
    l1.set(&key, Bytes::from_static(b"1")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Held once our own write's invalidation has passed and a read stored it again.
    while l1.get_ready(key.as_key_ref()).is_none() {
        assert!(Instant::now() < deadline, "never held");
        l1.get(&key).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let old = set.kill_primary();
    let new = set.wait_for_new_primary(old, Duration::from_secs(30));
    while l1.stats().flushes == 0 || l1.status() != L1Status::Active {
        assert!(Instant::now() < deadline, "not tracking again: {:?} {:?}", l1.status(), l1.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let primary = set.server_named(new).expect("the new primary");
    primary.must(&["SET", "k", "2"]);
    loop {
        match l1.get(&key).await {
            Ok(Some(value)) if value == Bytes::from_static(b"2") => break,
            _ => {}
        }
        assert!(Instant::now() < deadline, "the write on the new primary is not seen");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Held again, and evicted again by a write on the new primary.
    while l1.get_ready(key.as_key_ref()).is_none() {
        assert!(Instant::now() < deadline, "never held on the new primary");
        l1.get(&key).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    primary.must(&["SET", "k", "3"]);
    while l1.get(&key).await.unwrap() != Some(Bytes::from_static(b"3")) {
        assert!(Instant::now() < deadline, "not evicted on the new primary");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
