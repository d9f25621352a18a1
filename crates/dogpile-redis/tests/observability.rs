//! What the Redis backends add to a region's tracing and metrics, on a real redis-server: the
//! lost lock (a warning and a counter, whatever the lock-lost policy), and backend errors
//! counted by kind.

mod support;

use std::time::Duration;

use dogpile::{BackendErrorKind, Error, Region, metrics as m};
use dogpile_redis::{LockLostPolicy, RedisAdvancedBackend, RedisAdvancedHstoreBackend};
use dogpile_testing::RedisServer;
use dogpile_testing::fakes::Boom;
use dogpile_testing::trace::Capture;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// The counters of one snapshot (the debugging recorder's snapshots read counters
/// destructively), each with its name and labels.
fn counters(snapshotter: &Snapshotter) -> Vec<(String, Vec<(String, String)>, u64)> {
    let mut out = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        if let DebugValue::Counter(n) = value {
            let key = key.key();
            let labels = key.labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
            out.push((key.name().to_owned(), labels, n));
        }
    }
    out
}

fn counter(counters: &[(String, Vec<(String, String)>, u64)], name: &str, labels: &[(&str, &str)]) -> u64 {
    counters
        .iter()
        .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v)))
        .map_or(0, |(_, _, n)| *n)
}

// One thread: the recorder and the subscriber set here are this thread's.
#[tokio::test(flavor = "current_thread")]
async fn a_lost_lock_is_logged_and_counted_under_every_policy() {
    let server = RedisServer::start();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _recorder = metrics::set_default_local_recorder(&recorder);
    let capture = Capture::default();
    let _subscriber = tracing::subscriber::set_default(capture.clone());

    for (n, policy) in [LockLostPolicy::Ignore, LockLostPolicy::Error].into_iter().enumerate() {
        let config = support::config(&server).distributed_lock(true).lock_lost(policy);
        let region = Region::builder().backend(RedisAdvancedHstoreBackend::new(config).unwrap()).build().unwrap();
        let key = format!("user:{n}@example.com");
        let lock = format!("_lock{key}");
        let server = &server;
        let created = region
            .get_or_create(key.as_str(), || async move {
                // The lock expired, or someone flushed the server.
                server.must(&["DEL", &lock]);
                Ok::<_, Boom>(5u8)
            })
            .await;
        match n {
            0 => assert_eq!(created.unwrap(), 5),
            _ => assert!(matches!(created, Err(Error::LockLost { .. })), "{created:?}"),
        }
        let events = capture.take();
        let lost: Vec<&String> =
            events.iter().filter(|e| e.contains("message=lock lost before its release:")).collect();
        assert_eq!(lost.len(), 1, "{events:#?}");
        assert!(lost[0].contains("backend=dogpile_backend_redis_advanced_hstore"), "{}", lost[0]);
        assert!(!lost[0].contains("example.com"), "the lock's key is hashed: {}", lost[0]);
    }
    let backend = [(m::BACKEND, "dogpile_backend_redis_advanced_hstore")];
    assert_eq!(counter(&counters(&snapshotter), m::LOCKS_LOST, &backend), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn backend_errors_are_counted_by_kind() {
    let server = RedisServer::start();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let region = metrics::with_local_recorder(&recorder, || {
        let backend = RedisAdvancedBackend::new(support::config(&server)).unwrap();
        Region::builder().name("users").backend(backend).build()
    })
    .unwrap();
    server.must(&["RPUSH", "a-list", "x"]);
    let err = region.get::<u8>("a-list").await.unwrap_err();
    assert!(matches!(err, Error::Backend { kind: BackendErrorKind::WrongType, .. }), "{err:?}");
    let labels = |kind| [(m::REGION, "users"), (m::BACKEND, "dogpile_backend_redis_advanced"), (m::KIND, kind)];

    // The server goes away: a connection error.
    drop(server);
    let err = tokio::time::timeout(Duration::from_secs(30), region.get::<u8>("k")).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Backend { kind: BackendErrorKind::Connection, .. }), "{err:?}");
    let counters = counters(&snapshotter);
    assert_eq!(counter(&counters, m::BACKEND_ERRORS, &labels("wrong_type")), 1);
    assert_eq!(counter(&counters, m::BACKEND_ERRORS, &labels("connection")), 1);
    assert_eq!(region.stats().backend_errors, 2);
}
