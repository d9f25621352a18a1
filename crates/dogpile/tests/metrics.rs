//! What regions record through the `metrics` facade, read back from metrics-util's debugging
//! recorder: each counter and histogram, with its labels, against what the calls did.

use std::collections::BTreeMap;
use std::time::Duration;

use dogpile::backend::MemoryBackend;
use dogpile::codec::DecodeErrorPolicy;
use dogpile::{Bytes, CacheKey, Error, MockClock, Region, RegionBuilder, metrics as m};
use dogpile_testing::fakes::{Boom, FaultyBackend};
use dogpile_testing::metrics::{key, read};
use metrics_util::debugging::{DebuggingRecorder, Snapshotter};

/// A region built under its own debugging recorder, and the recorder's snapshotter.
fn recorded(builder: RegionBuilder) -> (Region, Snapshotter) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let region = metrics::with_local_recorder(&recorder, || builder.build()).unwrap();
    (region, snapshotter)
}

fn at(metrics: &BTreeMap<String, u64>, name: &str, extra: &[(&str, &str)], region: &str, backend: &str) -> u64 {
    let mut labels = vec![("backend", backend), ("region", region)];
    labels.extend_from_slice(extra);
    let key = key(name, &labels);
    *metrics.get(&key).unwrap_or_else(|| panic!("no {key} among {metrics:#?}"))
}

#[tokio::test(flavor = "current_thread")]
async fn hits_misses_creations_and_timings_carry_the_region_and_backend() {
    let (region, snapshotter) = recorded(Region::builder().name("users").expiration_time(Duration::from_secs(60)));
    let created: u32 = region.get_or_create("u:1", || async { Ok::<_, Boom>(1) }).await.unwrap();
    assert_eq!(created, 1);
    for _ in 0..3 {
        region.get_or_create("u:1", || async { Ok::<_, Boom>(2) }).await.unwrap();
    }
    assert_eq!(region.get::<u32>("u:2").await.unwrap(), None);
    region.set("u:3", &3).await.unwrap();
    assert_eq!(region.get_multi::<u32, _>(["u:1", "u:3", "u:4"]).await.unwrap(), [Some(1), Some(3), None]);

    let metrics = read(&snapshotter);
    let get = |name: &str| at(&metrics, name, &[], "users", "memory");
    // One creation (a miss), three hits, a missing get, then a get_multi with two hits.
    assert_eq!(get(m::HITS), 5);
    assert_eq!(get(m::MISSES), 3);
    assert_eq!(get(m::CREATOR_RUNS), 1);
    assert_eq!(get(m::CREATION_DURATION), 1);
    assert_eq!(get(m::CREATOR_ERRORS), 0);
    let timed = |op: &str| at(&metrics, m::OPERATION_DURATION, &[(m::OPERATION, op)], "users", "memory");
    assert_eq!(timed("get_or_create"), 4);
    assert_eq!(timed("get"), 1);
    assert_eq!(timed("set"), 1);
    assert_eq!(timed("get_multi"), 1);
    assert_eq!(timed("delete"), 0);
    // The counters are the region's stats.
    let stats = region.stats();
    assert_eq!((stats.hits, stats.misses, stats.creates), (5, 3, 1));
}

#[tokio::test(flavor = "current_thread")]
async fn stale_servings_waits_and_creator_errors_are_counted() {
    let clock = MockClock::new(1_000.0);
    let (region, snapshotter) =
        recorded(Region::builder().expiration_time(Duration::from_secs(10)).clock(clock.clone()));
    region.get_or_create("k", || async { Ok::<_, Boom>(1u8) }).await.unwrap();
    let failed = region.get_or_create::<u8, _, _, _>("other", || async { Err(Boom) }).await;
    assert!(matches!(failed, Err(Error::Creator { .. })), "{failed:?}");

    // Expired, and its lock held by a regeneration in progress: the others get the old value.
    clock.advance(Duration::from_secs(11));
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let slow = region.get_or_create("k", || async {
        let _ = released.await;
        Ok::<_, Boom>(2u8)
    });
    let other = async {
        tokio::task::yield_now().await;
        let stale = region.get_or_create("k", || async { Ok::<_, Boom>(3u8) }).await.unwrap();
        let _ = release.send(());
        stale
    };
    let (fresh, stale) = tokio::join!(slow, other);
    assert_eq!((fresh.unwrap(), stale), (2, 1));

    let metrics = read(&snapshotter);
    let get = |name: &str| at(&metrics, name, &[], "", "memory");
    assert_eq!(get(m::STALE_SERVED), 1);
    assert_eq!(get(m::CREATOR_ERRORS), 1);
    assert_eq!(get(m::CREATOR_RUNS), 3);
    assert_eq!(get(m::CREATION_DURATION), 3);
    assert_eq!(region.stats().creator_errors, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn undecodable_entries_are_counted_under_either_policy() {
    for policy in [DecodeErrorPolicy::Miss, DecodeErrorPolicy::Error] {
        let backend = MemoryBackend::default();
        let (region, snapshotter) = recorded(Region::builder().backend(backend.clone()).on_decode_error(policy));
        dogpile::backend::Backend::set(&backend, &CacheKey::from("bad"), Bytes::from_static(b"\xc1 not a value"))
            .await
            .unwrap();
        let read_back = region.get::<u32>("bad").await;
        match policy {
            DecodeErrorPolicy::Error => assert!(matches!(read_back, Err(Error::Codec { .. })), "{read_back:?}"),
            _ => assert_eq!(read_back.unwrap(), None),
        }
        let metrics = read(&snapshotter);
        assert_eq!(at(&metrics, m::DECODE_ERRORS, &[], "", "memory"), 1, "{policy:?}");
        assert_eq!(region.stats().decode_errors, 1);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn backend_errors_are_counted_by_kind_whether_returned_or_sunk() {
    let backend = FaultyBackend::new();
    let sunk = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&sunk);
    let (region, snapshotter) =
        recorded(Region::builder().name("faulty").backend(backend.clone()).on_background_error(move |_| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
    backend.fail_reads(true);
    assert!(region.get::<u32>("k").await.is_err());
    assert!(region.get_multi::<u32, _>(["a", "b"]).await.is_err());
    backend.fail_reads(false);
    // The store after a creation fails: the caller has its value, the error goes to the sink.
    backend.fail_writes(true);
    assert_eq!(region.get_or_create("k", || async { Ok::<_, Boom>(7u32) }).await.unwrap(), 7);
    backend.fail_writes(false);
    assert!(sunk.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    let metrics = read(&snapshotter);
    let errors = |kind: &str| at(&metrics, m::BACKEND_ERRORS, &[(m::KIND, kind)], "faulty", "faulty");
    let stats = region.stats();
    assert_eq!(errors("connection"), stats.backend_errors);
    assert_eq!(errors("connection"), 2 + sunk.load(std::sync::atomic::Ordering::SeqCst) as u64);
    assert_eq!(errors("timeout"), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_region_built_without_a_recorder_still_counts_its_stats() {
    let region = Region::builder().build().unwrap();
    region.get_or_create("k", || async { Ok::<_, Boom>(1u8) }).await.unwrap();
    assert_eq!(region.stats().creates, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn an_l1_counts_its_hits_misses_evictions_invalidations_and_flushes_by_backend() {
    use dogpile::backend::{Backend, L1Backend};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let l1 = metrics::with_local_recorder(&recorder, || {
        L1Backend::builder().capacity(2).build_pending(MemoryBackend::default())
    });
    let invalidator = l1.invalidator();
    invalidator.resume();
    let value = Bytes::from_static(b"v");
    for k in ["a", "b", "c"] {
        l1.set(&CacheKey::from(k), value.clone()).await.unwrap();
    }
    l1.get(&CacheKey::from("c")).await.unwrap();
    l1.get(&CacheKey::from("c")).await.unwrap();
    l1.get(&CacheKey::from("none")).await.unwrap();
    invalidator.invalidate(b"c");
    invalidator.suspend("gone");
    let metrics = read(&snapshotter);
    let get = |name: &str| *metrics.get(&key(name, &[("backend", "memory")])).unwrap_or(&0);
    assert_eq!(get(m::L1_HITS), 2);
    assert_eq!(get(m::L1_MISSES), 1);
    assert!(get(m::L1_EVICTIONS) >= 1, "{metrics:#?}");
    assert_eq!(get(m::L1_INVALIDATIONS), 1);
    assert_eq!(get(m::L1_FLUSHES), 1);
    let stats = l1.stats();
    assert_eq!((stats.hits, stats.misses, stats.invalidations, stats.flushes), (2, 1, 1, 1));
}
