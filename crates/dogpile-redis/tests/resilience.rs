//! Fail-safe and creator timeouts on Redis with the distributed lock: concurrent callers of a
//! key whose regeneration fails all get the expired value, the creator runs once, and no lock
//! is left in Redis.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dogpile::region::{CreateOptions, FailSafe, Outcome};
use dogpile::{MockClock, Region};
use dogpile_redis::RedisAdvancedHstoreBackend;
use dogpile_testing::RedisServer;
use dogpile_testing::fakes::Boom;
use dogpile_testing::server::Reply;

const EXPIRATION: Duration = Duration::from_secs(60);

fn region(server: &RedisServer, clock: &MockClock) -> Region {
    let config = support::config(server).distributed_lock(true).redis_expiration_time(Duration::from_secs(3600));
    Region::builder()
        .backend(RedisAdvancedHstoreBackend::new(config).unwrap())
        .expiration_time(EXPIRATION)
        .clock(clock.clone())
        .fail_safe(FailSafe::new(Duration::from_secs(1800)).throttle(Duration::from_secs(30)))
        .creator_timeout(Duration::from_millis(300))
        .build()
        .unwrap()
}

fn locks_left(server: &RedisServer) -> usize {
    match server.must(&["KEYS", "_lock*"]) {
        Reply::Array(Some(keys)) => keys.len(),
        other => panic!("KEYS: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_get_the_expired_value_when_the_database_is_down() {
    let server = RedisServer::start();
    let clock = MockClock::at_system_time();
    let region = region(&server, &clock);
    region.set(("users", "42"), &"ada".to_owned()).await.unwrap();
    clock.advance(EXPIRATION * 2);

    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (region, calls) = (region.clone(), Arc::clone(&calls));
            tokio::spawn(async move {
                region
                    .get_or_create_with_outcome(("users", "42"), &CreateOptions::new(), || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Err::<String, _>(Boom)
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        let (value, outcome) = task.await.unwrap().unwrap();
        assert_eq!(value, "ada");
        assert!(matches!(outcome, Outcome::FailSafe | Outcome::Stale), "{outcome:?}");
    }
    // One caller regenerated (the others saw the lock held: stale, or the throttle: fail-safe).
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stats = region.stats();
    assert_eq!(stats.fail_safe + stats.stale, 16, "{stats:?}");
    assert!(stats.fail_safe >= 1, "{stats:?}");
    assert_eq!(locks_left(&server), 0);
    // The value in Redis is untouched: still the old one, with its Redis TTL.
    assert_eq!(
        region
            .get_with::<String>(("users", "42"), dogpile::region::GetOptions::new().ignore_expiration(true))
            .await
            .unwrap()
            .as_deref(),
        Some("ada")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_past_the_hard_timeout_releases_the_redis_lock() {
    let server = RedisServer::start();
    let clock = MockClock::at_system_time();
    let region = region(&server, &clock);
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok::<_, Boom>(1u32)
    };
    let started = std::time::Instant::now();
    let err = region.get_or_create("k", slow).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(locks_left(&server), 0);
    assert_eq!(server.must(&["EXISTS", "k"]), Reply::Int(0));
    // The next caller creates at once.
    assert_eq!(region.get_or_create("k", || async { Ok::<_, Boom>(2u32) }).await.unwrap(), 2);
}

#[tokio::test]
async fn redis_ttls_are_spread_by_the_jitter_for_plain_keys_and_hashes() {
    let server = RedisServer::start();
    let config = support::config(&server)
        .redis_expiration_time(Duration::from_secs(1000))
        .redis_expiration_time_jitter(0.5)
        .unwrap()
        .redis_expiration_time_hash(dogpile_redis::HashTtlPolicy::OnEveryWrite);
    let region = Region::builder().backend(RedisAdvancedHstoreBackend::new(config).unwrap()).build().unwrap();
    let items: Vec<(dogpile::CacheKey, u8)> = (0..100)
        .map(|i| (dogpile::CacheKey::from(format!("p{i}")), 1))
        .chain((0..20).map(|i| (dogpile::CacheKey::hash(format!("h{i}"), "f"), 1)))
        .collect();
    region.set_multi(items.iter().map(|(k, v)| (k.clone(), *v))).await.unwrap();
    let pttl = |key: &str| match server.must(&["PTTL", key]) {
        Reply::Int(ms) => ms,
        other => panic!("PTTL {key}: {other:?}"),
    };
    for (prefix, n) in [("p", 100), ("h", 20)] {
        let ttls: Vec<i64> = (0..n).map(|i| pttl(&format!("{prefix}{i}"))).collect();
        assert!(ttls.iter().all(|t| (499_000..=1_000_000).contains(t)), "{prefix}: {ttls:?}");
        let distinct: std::collections::BTreeSet<i64> = ttls.iter().map(|t| t / 10_000).collect();
        assert!(distinct.len() > n / 4, "{prefix}: TTLs not spread: {ttls:?}");
    }
    let bad = dogpile::config::Arguments::new().with("redis_expiration_time_jitter", 2.0);
    let err = dogpile_redis::RedisConfig::from_arguments(&bad).unwrap_err();
    assert!(err.to_string().contains("redis_expiration_time_jitter"), "{err}");
}

/// Callers looping over `get_or_create` while the server is killed and restarted, then
/// paused: every call gets its value (from the creator, one run per key, while Redis is
/// away), none hangs, and the region returns to Redis when it answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_serves_through_a_killed_and_a_paused_server() {
    use dogpile::region::FailOpen;
    use std::sync::atomic::AtomicBool;

    let mut server = RedisServer::start();
    let config = support::config(&server)
        .distributed_lock(true)
        .socket_timeout(Duration::from_millis(300))
        .socket_connect_timeout(Duration::from_millis(300));
    let region = Region::builder()
        .backend(RedisAdvancedHstoreBackend::new(config).unwrap())
        .expiration_time(Duration::from_secs(600))
        .fail_open(FailOpen::new().breaker(3, Duration::from_millis(500)))
        .build()
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let run = {
        let (region, runs) = (region.clone(), Arc::clone(&runs));
        move |key: String| {
            let (region, runs) = (region.clone(), Arc::clone(&runs));
            async move {
                let made = key.clone();
                let call = region.get_or_create(("h", key.as_str()), || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Boom>(made)
                });
                let started = std::time::Instant::now();
                let value = tokio::time::timeout(Duration::from_secs(5), call).await.expect("a call hung");
                (value, started.elapsed())
            }
        }
    };
    let callers: Vec<_> = (0..8)
        .map(|t| {
            let (stop, run) = (Arc::clone(&stop), run.clone());
            tokio::spawn(async move {
                let (mut calls, mut slowest) = (0u64, Duration::ZERO);
                let mut n = t;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let key = format!("f{}", n % 6);
                    let (value, took) = run(key.clone()).await;
                    assert_eq!(value.unwrap(), key);
                    slowest = slowest.max(took);
                    calls += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                (calls, slowest)
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 6, "one run per key while Redis is up");
    server.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // While Redis was away, each key was made once more, in process (not served from Redis).
    assert_eq!(runs.load(Ordering::SeqCst), 12);
    let opened = region.stats().breaker_opened;
    assert!(opened >= 1, "{:?}", region.stats());
    server.restart().unwrap();
    // Back on Redis: a new key is written there.
    let back = std::time::Instant::now();
    loop {
        let (value, _) = run("after-restart".into()).await;
        assert_eq!(value.unwrap(), "after-restart");
        if server.must(&["HEXISTS", "h", "after-restart"]) == Reply::Int(1) {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(10), "not back on Redis: {:?}", region.stats());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("back on Redis {:?} after the restart", back.elapsed());

    // A paused server: calls time out after 300 ms and are served in process.
    server.must(&["CLIENT", "PAUSE", "1500", "ALL"]);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for caller in callers {
        let (calls, slowest) = caller.await.expect("a caller panicked");
        total += calls;
        assert!(slowest < Duration::from_secs(2), "a call took {slowest:?}");
    }
    let stats = region.stats();
    eprintln!("{total} calls; {stats:?}");
    assert!(stats.fail_open > 0 && stats.breaker_opened > opened, "{stats:?}");
}

/// Early refresh across two processes (two regions) sharing one Redis: near the expiry both
/// draw a refresh, the distributed lock lets one regenerate, and neither caller waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_refresh_is_single_flight_across_processes_through_the_redis_lock() {
    use dogpile::region::EarlyRefresh;

    let server = RedisServer::start();
    let clock = MockClock::at_system_time();
    let process = |seed: u64| {
        let config = support::config(&server).distributed_lock(true).redis_expiration_time(Duration::from_secs(3600));
        Region::builder()
            .backend(RedisAdvancedHstoreBackend::new(config).unwrap())
            .expiration_time(EXPIRATION)
            .clock(clock.clone())
            .early_refresh(EarlyRefresh::new(1.0).seed(seed))
            .build()
            .unwrap()
    };
    let (a, b) = (process(1), process(2));
    let runs = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let creator = |value: u32, gate: bool| {
        let (runs, release, clock) = (Arc::clone(&runs), Arc::clone(&release), clock.clone());
        move || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            if gate {
                release.notified().await;
            }
            clock.advance(Duration::from_secs(2));
            Ok::<_, Boom>(value)
        }
    };
    let options = CreateOptions::new();
    assert_eq!(a.get_or_create_in_background(("h", "hot"), &options, creator(1, false)).await.unwrap(), 1);
    // 0.1 s before the expiry, with a 2 s creator: both processes draw a refresh.
    clock.advance(EXPIRATION - Duration::from_millis(2100));
    for _ in 0..10 {
        for region in [&a, &b] {
            let started = std::time::Instant::now();
            let v = region.get_or_create_in_background(("h", "hot"), &options, creator(2, true)).await.unwrap();
            assert_eq!(v, 1, "the current value, at once");
            assert!(started.elapsed() < Duration::from_secs(2));
        }
    }
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.early_refreshes + sb.early_refreshes, 1, "{sa:?} {sb:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 2, "one creation, then one regeneration in flight");
    assert_eq!(locks_left(&server), 1, "the regeneration holds the lock");
    release.notify_one();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while locks_left(&server) > 0 {
        assert!(std::time::Instant::now() < deadline, "the regeneration did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(b.get::<u32>(("h", "hot")).await.unwrap(), Some(2));
    assert_eq!((sa.stale + sb.stale, sa.waits + sb.waits), (0, 0));
}
