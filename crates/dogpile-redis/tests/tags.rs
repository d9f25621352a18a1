//! Tags across processes that share a Redis: each region here has its own backend (its own
//! connections, its own tag store), as a process has. A hit on a tagged value costs no
//! command beyond its read; an invalidation reaches a running process's L1 through the
//! channel; a process started after a Redis restart reads the invalidation that the server
//! persisted.

mod support;

use std::time::{Duration, Instant};

use dogpile::Region;
use dogpile::backend::L1Backend;
use dogpile::region::SetOptions;
use dogpile_redis::RedisAdvancedBackend;
use dogpile_redis::RedisConfig;
use dogpile_testing::server::Reply;
use dogpile_testing::{CountingProxy, RedisServer};
use support::{config, with_l1};

const PATIENCE: Duration = Duration::from_secs(10);

/// A region of its own process-like backend.
fn region(server: &RedisServer) -> Region {
    region_on(config(server))
}

fn region_on(config: RedisConfig) -> Region {
    let backend = RedisAdvancedBackend::new(config).unwrap();
    Region::builder().backend(backend).expiration_time(Duration::from_secs(3600)).build().unwrap()
}

/// A region of its own backend behind an L1.
fn region_with_l1(server: &RedisServer) -> Region {
    let backend = RedisAdvancedBackend::new(config(server)).unwrap();
    let l1 = with_l1(backend.with_l1(L1Backend::builder().capacity(100)));
    Region::builder().backend(l1).expiration_time(Duration::from_secs(3600)).build().unwrap()
}

async fn until_missing(region: &Region, key: &str) -> Duration {
    let start = Instant::now();
    while region.get::<String>(key).await.unwrap().is_some() {
        assert!(start.elapsed() < PATIENCE, "{key} is still served");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

/// Waits until the proxy has seen no round trip for 50 ms (what a first call started in the
/// background is done).
async fn settle(proxy: &CountingProxy) {
    let start = Instant::now();
    loop {
        let seen = proxy.round_trips();
        tokio::time::sleep(Duration::from_millis(50)).await;
        if proxy.round_trips() == seen {
            return;
        }
        assert!(start.elapsed() < PATIENCE, "round trips never stop");
    }
}

fn tagged(tags: &[&str]) -> SetOptions {
    SetOptions::new().tags(tags.iter().copied())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_on_a_tagged_value_costs_one_round_trip_once_its_tags_are_known() {
    let server = RedisServer::start();
    let (writer_proxy, reader_proxy) =
        (CountingProxy::start(server.addr()).await, CountingProxy::start(server.addr()).await);
    let writer = region_on(RedisConfig::from_url(writer_proxy.url()));
    let reader = region_on(RedisConfig::from_url(reader_proxy.url()));
    writer.set_with("user:42:name", &"Ada", tagged(&["user:42", "team:7"])).await.unwrap();
    writer.set_with("user:42:mail", &"ada@example.com", tagged(&["user:42"])).await.unwrap();
    // The first read meets both tags: its read, one MGET of their records, and, in the
    // background, the subscription to the channel on a connection of its own.
    assert_eq!(reader.get::<String>("user:42:name").await.unwrap().as_deref(), Some("Ada"));
    settle(&reader_proxy).await;
    // A multi-key read that meets new tags costs one more round trip for all of them.
    for i in 0..3 {
        writer.set_with(&format!("order:{i}"), &i, tagged(&[&format!("order:{i}"), "orders"])).await.unwrap();
    }
    reader_proxy.reset();
    let orders = reader.get_multi::<i32, _>(["order:0", "order:1", "order:2"]).await.unwrap();
    assert_eq!(orders, vec![Some(0), Some(1), Some(2)]);
    assert_eq!(reader_proxy.round_trips(), 2, "MGET of the values, MGET of the 4 new tags' records");
    // The tags fetched before the subscription was up are fetched once more as they are met
    // (news may have come in between): one MGET for user:42 and team:7.
    reader_proxy.reset();
    reader.get::<String>("user:42:name").await.unwrap();
    assert_eq!(reader_proxy.round_trips(), 2);
    // From then on each hit, of this key or of another whose tags are known, is one GET.
    reader_proxy.reset();
    for _ in 0..50 {
        assert_eq!(reader.get::<String>("user:42:name").await.unwrap().as_deref(), Some("Ada"));
        assert!(reader.get::<String>("user:42:mail").await.unwrap().is_some());
    }
    assert_eq!(reader_proxy.round_trips(), 100, "100 hits on tagged values");
    // An invalidation is one round trip (the script that records and announces it), once the
    // script is loaded on the server.
    writer.invalidate_tags(["warm-up"], true).await.unwrap();
    writer_proxy.reset();
    writer.invalidate_tags(["team:7"], true).await.unwrap();
    assert_eq!(writer_proxy.round_trips(), 1);
    until_missing(&reader, "user:42:name").await;
    assert!(reader.get::<String>("user:42:mail").await.unwrap().is_some(), "untouched by team:7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_reaches_the_l1_of_every_process() {
    let server = RedisServer::start();
    let (a, b) = (region_with_l1(&server), region_with_l1(&server));
    a.set_with("report", &"q3", tagged(&["reports"])).await.unwrap();
    // Both hold the value in their L1: reads stop reaching the server.
    for region in [&a, &b] {
        let start = Instant::now();
        loop {
            server.reset_stats();
            assert_eq!(region.get::<String>("report").await.unwrap().as_deref(), Some("q3"));
            if server.command_count() == 0 {
                break;
            }
            assert!(start.elapsed() < PATIENCE, "the value never settles in the L1");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    b.invalidate_tags(["reports"], true).await.unwrap();
    assert_eq!(b.get::<String>("report").await.unwrap(), None, "at once in the invalidating process");
    until_missing(&a, "report").await;
    // The entry itself is untouched in Redis: the miss is the tag's doing.
    assert_eq!(server.must(&["EXISTS", "report"]), Reply::Int(1));
    // A value written after the invalidation is served again, from the L1 too.
    tokio::time::sleep(Duration::from_millis(5)).await;
    a.set_with("report", &"q4", tagged(&["reports"])).await.unwrap();
    let start = Instant::now();
    while b.get::<String>("report").await.unwrap().as_deref() != Some("q4") {
        assert!(start.elapsed() < PATIENCE, "the new value is never served");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_outlives_a_redis_restart() {
    let mut server = RedisServer::start_configured(&["--appendonly", "yes", "--appendfsync", "always"], None);
    let (writer, running) = (region(&server), region(&server));
    writer.set_with("k", &"before", tagged(&["t"])).await.unwrap();
    assert_eq!(running.get::<String>("k").await.unwrap().as_deref(), Some("before"));
    tokio::time::sleep(Duration::from_millis(5)).await;
    writer.invalidate_tags(["t"], true).await.unwrap();
    until_missing(&running, "k").await;
    // The record expires with the retention (a day by default), not before.
    let Reply::Int(ttl) = server.must(&["PTTL", "{dogpile:tags}:t"]) else { panic!("no PTTL") };
    assert!(ttl > 86_000_000 && ttl <= 86_400_000, "the record's PTTL is {ttl} ms");

    server.kill();
    server.restart().unwrap();
    assert_eq!(server.must(&["EXISTS", "k"]), Reply::Int(1), "the entry survived the restart");
    // A process started after the restart reads the record and misses; the running one too.
    let later = region(&server);
    assert_eq!(later.get::<String>("k").await.unwrap(), None);
    // The running process's connection broke with the server: its next call may report it.
    let start = Instant::now();
    while let Err(err) = running.get::<String>("k").await {
        assert!(start.elapsed() < PATIENCE, "never reconnected: {err}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    until_missing(&running, "k").await;
    // A value written now is served by both.
    tokio::time::sleep(Duration::from_millis(5)).await;
    later.set_with("k", &"after", tagged(&["t"])).await.unwrap();
    assert_eq!(running.get::<String>("k").await.unwrap().as_deref(), Some("after"));
}
