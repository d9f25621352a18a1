//! What the Redis backends add to a region's tracing and metrics, on a real redis-server: the
//! lost lock (a warning and a counter, whatever the lock-lost policy), backend errors
//! counted by kind, and coalesced reads.

mod support;

use std::time::Duration;

use dogpile::{BackendErrorKind, Error, Region, metrics as m};
use dogpile_redis::{LockLostPolicy, RedisAdvancedBackend, RedisAdvancedHstoreBackend};
use dogpile_testing::RedisServer;
use dogpile_testing::fakes::Boom;
use dogpile_testing::metrics::{key, read};
use dogpile_testing::trace::Capture;
use metrics_util::debugging::DebuggingRecorder;

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
    let lost = key(m::LOCKS_LOST, &[(m::BACKEND, "dogpile_backend_redis_advanced_hstore")]);
    assert_eq!(read(&snapshotter).get(&lost), Some(&2));
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
    let errors = |kind| {
        key(m::BACKEND_ERRORS, &[(m::REGION, "users"), (m::BACKEND, "dogpile_backend_redis_advanced"), (m::KIND, kind)])
    };

    // The server goes away: a connection error.
    drop(server);
    let err = tokio::time::timeout(Duration::from_secs(30), region.get::<u8>("k")).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Backend { kind: BackendErrorKind::Connection, .. }), "{err:?}");
    let read = read(&snapshotter);
    assert_eq!((read.get(&errors("wrong_type")), read.get(&errors("connection"))), (Some(&1), Some(&1)), "{read:#?}");
    assert_eq!(region.stats().backend_errors, 2);
}

#[tokio::test(flavor = "current_thread")]
async fn coalesced_reads_are_counted() {
    use dogpile::backend::Backend;
    let server = RedisServer::start();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _recorder = metrics::set_default_local_recorder(&recorder);
    let backend = RedisAdvancedBackend::new(support::config(&server).coalesce_reads(true)).unwrap();
    let keys: Vec<dogpile::CacheKey> = (0..10).map(|i| dogpile::CacheKey::from(format!("k{i}"))).collect();
    // The first read goes out alone; the 9 issued while it is out go as one batch.
    let got = futures_util::future::join_all(keys.iter().map(|k| backend.get(k))).await;
    assert!(got.into_iter().all(|r| r.unwrap().is_none()));
    let label = [(m::BACKEND, "dogpile_backend_redis_advanced")];
    let read = read(&snapshotter);
    assert_eq!(read.get(&key(m::COALESCED_BATCHES, &label)), Some(&1), "{read:#?}");
    assert_eq!(read.get(&key(m::COALESCED_READS, &label)), Some(&9), "{read:#?}");
}
