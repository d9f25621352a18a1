//! Faults found by pausing, starving and re-keying Redis: each has a defined outcome, and the
//! region recovers by itself once the cause is gone.

use std::time::{Duration, Instant};

use dogpile::{BackendErrorKind, Region};
use dogpile_redis::{RedisAdvancedBackend, RedisConfig};
use dogpile_testing::RedisServer;

async fn eventually_ok(region: &Region, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        match region.get::<u8>("k").await {
            Ok(_) => return start.elapsed(),
            Err(err) if start.elapsed() < within => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("still failing after {within:?}: {err}"),
        }
    }
}

/// Defect: after a reconnection failed authentication, the backend never recovered, though a
/// new region worked at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_recovers_after_its_password_is_valid_again() {
    let server = RedisServer::start();
    server.must(&["CONFIG", "SET", "requirepass", "pw1"]);
    server.use_password(Some("pw1"));
    let config = RedisConfig::new()
        .host("127.0.0.1")
        .port(server.port())
        .password("pw1")
        .socket_timeout(Duration::from_millis(500));
    let region = Region::builder().backend(RedisAdvancedBackend::new(config).unwrap()).build().unwrap();
    region.set("k", &1u8).await.unwrap();

    server.must(&["CONFIG", "SET", "requirepass", "pw2"]);
    server.use_password(Some("pw2"));
    server.must(&["CLIENT", "KILL", "TYPE", "normal"]);
    let mut kinds = Vec::new();
    for _ in 0..3 {
        if let Err(err) = region.get::<u8>("k").await {
            kinds.push(err.backend_kind());
        }
    }
    assert!(!kinds.is_empty(), "calls with a rejected password succeeded");
    assert!(
        kinds.iter().all(|k| matches!(k, Some(BackendErrorKind::Authentication | BackendErrorKind::Connection))),
        "{kinds:?}"
    );
    assert!(kinds.contains(&Some(BackendErrorKind::Authentication)), "{kinds:?}");

    server.must(&["CONFIG", "SET", "requirepass", "pw1"]);
    server.use_password(Some("pw1"));
    let took = eventually_ok(&region, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// Defect: a lock acquisition that timed out in the client still took the lock when the
/// paused server ran the queued `SET NX PX`, and for the lock's 30 s every caller waited. The
/// acquisition is settled: its token is released once the server answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_lock_acquisition_leaves_no_lock_behind() {
    let server = RedisServer::start();
    let config = RedisConfig::from_url(server.url())
        .socket_timeout(Duration::from_millis(200))
        .distributed_lock(true)
        .lock_sleep(Duration::from_millis(10));
    let region = Region::builder().backend(RedisAdvancedBackend::new(config).unwrap()).build().unwrap();
    region.set("warm", &1u8).await.unwrap();

    server.must(&["CLIENT", "PAUSE", "1500", "WRITE"]);
    let err = region
        .get_or_create("k", || async { Ok::<_, std::io::Error>(1u8) })
        .await
        .expect_err("the lock cannot be taken while writes are paused");
    assert!(err.is_timeout(), "{err}");

    // The pause ends and the server runs the queued SET; the settled acquisition removes it.
    let deadline = Instant::now() + Duration::from_secs(10);
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    while server.must(&["EXISTS", "_lockk"]) != dogpile_testing::server::Reply::Int(0) {
        assert!(Instant::now() < deadline, "an orphaned lock is still there");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    let value = tokio::time::timeout(
        Duration::from_secs(5),
        region.get_or_create("k", || async { Ok::<_, std::io::Error>(2u8) }),
    )
    .await
    .expect("a caller waited for a lock nobody holds")
    .unwrap();
    assert_eq!(value, 2);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Concurrent callers of a region whose server is unreachable share one connection attempt,
/// and calls within the backoff that follows a failed attempt fail at once, without
/// connecting. Once the server is back, the region connects by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_reconnection_attempt() {
    let server = RedisServer::start();
    let proxy = dogpile_testing::CountingProxy::start(server.addr()).await;
    proxy.refuse(true);
    let config = RedisConfig::from_url(proxy.url()).socket_timeout(Duration::from_millis(500));
    let region = Region::builder().backend(RedisAdvancedBackend::new(config).unwrap()).build().unwrap();

    let burst = |n: usize| {
        let region = region.clone();
        async move {
            let calls = (0..n).map(|_| {
                let region = region.clone();
                tokio::spawn(async move { region.get::<u8>("k").await })
            });
            let mut kinds = Vec::new();
            for call in calls.collect::<Vec<_>>() {
                kinds.push(call.await.unwrap().expect_err("the server is unreachable").backend_kind());
            }
            kinds
        }
    };
    let kinds = burst(50).await;
    assert!(kinds.iter().all(|k| *k == Some(BackendErrorKind::Connection)), "{kinds:?}");
    let first = proxy.connections();
    // One attempt (the connection manager tries up to 3 times), not one per caller.
    assert!((1..=3).contains(&first), "50 callers made {first} connections");

    // Within the backoff, calls fail without connecting.
    let kinds = burst(50).await;
    assert!(kinds.iter().all(|k| *k == Some(BackendErrorKind::Connection)), "{kinds:?}");
    assert!(proxy.connections() - first <= 3, "{} connections within the backoff", proxy.connections() - first);

    proxy.refuse(false);
    let took = eventually_ok(&region, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(3), "reconnecting took {took:?} after the server was back");

    // A connection lost mid-run: the callers of the moment still share the reconnection.
    proxy.refuse(true);
    let before = proxy.connections();
    server.must(&["CLIENT", "KILL", "TYPE", "normal"]);
    let kinds = burst(50).await;
    let lost = kinds.iter().filter(|k| k.is_some()).count();
    let made = proxy.connections() - before;
    // The old manager's own reconnection and one new attempt (up to 3 connects each), plus a
    // retry by a caller that still held the old manager: a handful, not one per caller.
    assert!(made <= 9, "50 callers after a lost connection made {made} connections ({lost} failed)");
    proxy.refuse(false);
    eventually_ok(&region, Duration::from_secs(10)).await;
}

/// A release whose reply was lost (the server paused while the holder finished) left the lock
/// to no one for its whole TTL. It is settled like an acquisition of unknown outcome: the
/// token is released once the server answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_release_leaves_no_lock_behind() {
    let server = RedisServer::start();
    let config = RedisConfig::from_url(server.url())
        .socket_timeout(Duration::from_millis(200))
        .distributed_lock(true)
        .lock_sleep(Duration::from_millis(10));
    let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&reports);
    let region = Region::builder()
        .backend(RedisAdvancedBackend::new(config).unwrap())
        .on_background_error(move |e| sink.lock().unwrap().push(e.backend_kind()))
        .build()
        .unwrap();

    let outcome = region
        .get_or_create("k", || async {
            assert_eq!(server.must(&["EXISTS", "_lockk"]), dogpile_testing::server::Reply::Int(1));
            server.must(&["CLIENT", "PAUSE", "1200", "ALL"]);
            Ok::<_, std::io::Error>(1u8)
        })
        .await;
    let paused_at = Instant::now();
    // The value was made; its store and the release timed out and went to the error sink.
    assert_eq!(outcome.unwrap(), 1);
    assert_eq!(*reports.lock().unwrap(), [Some(BackendErrorKind::Timeout); 2]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.must(&["EXISTS", "_lockk"]) != dogpile_testing::server::Reply::Int(0) {
        assert!(Instant::now() < deadline, "the lock is still there {:?} after the pause", paused_at.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(paused_at.elapsed() < Duration::from_secs(5), "{:?}", paused_at.elapsed());
}

/// A blackhole (the server's host gone without a FIN or an RST: a connection that never
/// answers again) with the default settings: calls end at the default socket timeout with a
/// timeout error instead of hanging, and once the network lets new connections through the
/// region connects anew instead of waiting on the dead one.
///
/// Defect: a timeout left the connection in place, and the manager reconnects only when the
/// connection is closed: every later call timed out on the dead connection, for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackhole_fails_calls_at_the_default_timeout_and_the_region_connects_anew() {
    let server = RedisServer::start();
    let proxy = dogpile_testing::CountingProxy::start(server.addr()).await;
    let region = Region::builder()
        .backend(RedisAdvancedBackend::new(RedisConfig::from_url(proxy.url())).unwrap())
        .build()
        .unwrap();
    region.set("k", &7u8).await.unwrap();

    proxy.fault(Some(dogpile_testing::NetFault::Blackhole));
    let started = Instant::now();
    let err = region.get::<u8>("k").await.expect_err("no answer comes out of a blackhole");
    let took = started.elapsed();
    assert!(err.is_timeout(), "{err}");
    let bound = dogpile_redis::DEFAULT_SOCKET_TIMEOUT + Duration::from_secs(2);
    assert!(took < bound, "a call into the blackhole took {took:?}, past the default timeout");
    proxy.fault(None);

    // The connection the blackhole swallowed stays silent; the next call connects anew.
    let connections = proxy.connections();
    assert_eq!(region.get::<u8>("k").await.unwrap(), Some(7));
    assert!(proxy.connections() > connections, "the region kept the dead connection");
}
