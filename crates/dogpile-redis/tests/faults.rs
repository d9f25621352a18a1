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
