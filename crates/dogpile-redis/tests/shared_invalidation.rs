//! Region invalidation shared through Redis: processes that run see it at once, processes
//! that start later or subscribe again read it from Redis.

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dogpile::Region;
use dogpile_redis::RedisAdvancedBackend;
use dogpile_testing::RedisServer;
use support::config;

const PATIENCE: Duration = Duration::from_secs(10);

/// A region named `users` of its own process-like backend (its own connections).
async fn region(server: &RedisServer) -> Region {
    let backend = RedisAdvancedBackend::new(config(server)).unwrap();
    let invalidation = backend.shared_invalidation("users").await.unwrap();
    Region::builder()
        .backend(backend)
        .expiration_time(Duration::from_secs(3600))
        .invalidation_strategy(invalidation)
        .build()
        .unwrap()
}

async fn until_missing(region: &Region, key: &str) {
    let start = Instant::now();
    while region.get::<String>(key).await.unwrap().is_some() {
        assert!(start.elapsed() < PATIENCE, "{key} is still served");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_invalidation_reaches_running_regions_and_later_ones() {
    let server = RedisServer::start();
    let (a, b) = (region(&server).await, region(&server).await);
    a.set("k", &"v").await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(b.get::<String>("k").await.unwrap().as_deref(), Some("v"));
    b.invalidate(true);
    assert_eq!(b.get::<String>("k").await.unwrap(), None, "at once in the invalidating process");
    until_missing(&a, "k").await;
    // A process that starts now reads the invalidation kept in Redis.
    let start = Instant::now();
    while server.must(&["GET", "dogpile:invalidated:users"]).as_text().is_none() {
        assert!(start.elapsed() < PATIENCE, "never written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let later = region(&server).await;
    assert_eq!(later.get::<String>("k").await.unwrap(), None);
    // Values created after it are served everywhere.
    tokio::time::sleep(Duration::from_millis(20)).await;
    later.set("k", &"new").await.unwrap();
    assert_eq!(a.get::<String>("k").await.unwrap().as_deref(), Some("new"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_invalidation_makes_the_other_regions_regenerate() {
    let server = RedisServer::start();
    let (a, b) = (region(&server).await, region(&server).await);
    let create = |v: &'static str| move || async move { Ok::<_, std::io::Error>(v.to_owned()) };
    let first: String = a.get_or_create("k", create("old")).await.unwrap();
    assert_eq!(first, "old");
    tokio::time::sleep(Duration::from_millis(20)).await;
    b.invalidate(false);
    let start = Instant::now();
    loop {
        let got: String = a.get_or_create("k", create("new")).await.unwrap();
        if got == "new" {
            break;
        }
        assert_eq!(got, "old");
        assert!(start.elapsed() < PATIENCE, "never regenerated");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resubscribed_region_reads_what_it_missed() {
    let server = RedisServer::start();
    let a = region(&server).await;
    a.set("k", &"v").await.unwrap();
    // Written without an announcement (as if published while a's subscription was down).
    tokio::time::sleep(Duration::from_millis(20)).await;
    server.must(&["SET", "dogpile:invalidated:users", &format!("hard {}", now())]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(a.get::<String>("k").await.unwrap().as_deref(), Some("v"), "not announced, not seen yet");
    server.must(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    until_missing(&a, "k").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_or_garbled_invalidation_is_ignored() {
    let server = RedisServer::start();
    let a = region(&server).await;
    a.set("k", &"v").await.unwrap();
    server.must(&["PUBLISH", "dogpile:region-invalidated", "dogpile:invalidated:users hard 12"]);
    server.must(&["PUBLISH", "dogpile:region-invalidated", "dogpile:invalidated:users never"]);
    server.must(&[
        "PUBLISH",
        "dogpile:region-invalidated",
        &format!("dogpile:invalidated:others hard {}", now() + 1.0),
    ]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(a.get::<String>("k").await.unwrap().as_deref(), Some("v"));
    server.must(&["PUBLISH", "dogpile:region-invalidated", &format!("dogpile:invalidated:users hard {}", now() + 1.0)]);
    until_missing(&a, "k").await;
}
