//! Fail-safe and creator timeouts on the memory backend, with a mock clock: a failed or
//! timed-out regeneration of an expired value serves that value, within its age limit, and
//! the key is not retried during the throttle period.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dogpile::region::{CreateOptions, FailSafe, Outcome};
use dogpile::{CacheKey, Error, MockClock, Region};
use dogpile_testing::fakes::Boom;

const EXPIRATION: Duration = Duration::from_secs(60);

struct Setup {
    region: Region,
    clock: MockClock,
    reported: Arc<Mutex<Vec<String>>>,
}

fn setup(fail_safe: Option<FailSafe>) -> Setup {
    let clock = MockClock::new(1_000_000.0);
    let reported = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reported);
    let mut builder = Region::builder()
        .expiration_time(EXPIRATION)
        .clock(clock.clone())
        .on_background_error(move |e: &Error| sink.lock().unwrap().push(e.to_string()));
    if let Some(fail_safe) = fail_safe {
        builder = builder.fail_safe(fail_safe);
    }
    Setup { region: builder.build().unwrap(), clock, reported }
}

fn hour_with_throttle(throttle: Duration) -> FailSafe {
    FailSafe::new(Duration::from_secs(3600)).throttle(throttle)
}

/// A creator that fails and counts its calls.
fn failing(calls: &Arc<AtomicUsize>) -> impl FnOnce() -> std::future::Ready<Result<u32, Boom>> + use<> {
    let calls = Arc::clone(calls);
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Err(Boom))
    }
}

#[tokio::test]
async fn an_expired_value_stands_in_for_a_failed_regeneration_and_the_key_is_throttled() {
    let s = setup(Some(hour_with_throttle(Duration::from_secs(30))));
    s.region.set("k", &7u32).await.unwrap();
    s.clock.advance(EXPIRATION * 2);
    let calls = Arc::new(AtomicUsize::new(0));
    let options = CreateOptions::new();

    let (value, outcome) = s.region.get_or_create_with_outcome("k", &options, failing(&calls)).await.unwrap();
    assert_eq!((value, outcome), (7, Outcome::FailSafe));
    assert!(outcome.is_stale());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let reported = s.reported.lock().unwrap().clone();
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert!(reported[0].contains("key k") && reported[0].contains("creator"), "{reported:?}");

    // Within the throttle period the creator is not called again.
    s.clock.advance(Duration::from_secs(10));
    let (value, outcome) = s.region.get_or_create_with_outcome("k", &options, failing(&calls)).await.unwrap();
    assert_eq!((value, outcome), (7, Outcome::FailSafe));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(s.region.stats().fail_safe, 2);

    // After it, the creator is tried again; a success ends the throttle.
    s.clock.advance(Duration::from_secs(25));
    let (value, outcome) = s.region.get_or_create_with_outcome("k", &options, failing(&calls)).await.unwrap();
    assert_eq!((value, outcome), (7, Outcome::FailSafe));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    s.clock.advance(Duration::from_secs(31));
    let (value, outcome) =
        s.region.get_or_create_with_outcome("k", &options, || async { Ok::<_, Boom>(8u32) }).await.unwrap();
    assert_eq!((value, outcome), (8, Outcome::Created));
    s.clock.advance(EXPIRATION * 2);
    let err = s.region.get_or_create_with_outcome("k", &options.clone().no_fail_safe(), failing(&calls)).await;
    assert!(err.unwrap_err().is_creator());
    assert_eq!(calls.load(Ordering::SeqCst), 3, "not throttled after the success");
}

#[tokio::test]
async fn no_stand_in_when_too_old_missing_or_off() {
    let calls = Arc::new(AtomicUsize::new(0));
    // Too old: created more than max_age ago.
    let s = setup(Some(FailSafe::new(Duration::from_secs(120))));
    s.region.set("k", &1u32).await.unwrap();
    s.clock.advance(Duration::from_secs(121));
    let err = s.region.get_or_create("k", failing(&calls)).await.unwrap_err();
    assert!(err.is_creator() && err.key() == Some(&CacheKey::from("k")), "{err:?}");
    // Missing: nothing to stand in.
    let err = s.region.get_or_create("missing", failing(&calls)).await.unwrap_err();
    assert!(err.is_creator(), "{err:?}");
    assert_eq!(s.region.stats().fail_safe, 0);
    // Off (dogpile's behaviour), and off for one call on a region that has it.
    let off = setup(None);
    off.region.set("k", &1u32).await.unwrap();
    off.clock.advance(EXPIRATION * 2);
    assert!(off.region.get_or_create("k", failing(&calls)).await.unwrap_err().is_creator());
    let on = setup(Some(hour_with_throttle(Duration::ZERO)));
    on.region.set("k", &1u32).await.unwrap();
    on.clock.advance(EXPIRATION * 2);
    let strict = CreateOptions::new().no_fail_safe();
    assert!(on.region.get_or_create_with("k", &strict, failing(&calls)).await.unwrap_err().is_creator());
    // A zero throttle tries the creator on every call.
    for _ in 0..3 {
        assert_eq!(on.region.get_or_create("k", failing(&calls)).await.unwrap(), 1);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 7);
    assert!(!on.region.key_is_locked("k").await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_hard_creator_timeout_gives_up_frees_the_key_and_counts() {
    let s = setup(None);
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, Boom>(1u32)
    };
    let options = CreateOptions::new().creator_timeout(Duration::from_millis(200));
    let err = s.region.get_or_create_with("k", &options, slow).await.unwrap_err();
    assert!(err.is_timeout() && !err.is_creator(), "{err:?}");
    assert!(matches!(err, Error::CreatorTimeout { after, .. } if after == Duration::from_millis(200)), "{err:?}");
    assert_eq!(err.key(), Some(&CacheKey::from("k")));
    assert!(err.to_string().contains("did not finish within"), "{err}");
    assert_eq!(s.region.stats().creator_timeouts, 1);
    assert!(!s.region.key_is_locked("k").await.unwrap());
    assert_eq!(s.region.get::<u32>("k").await.unwrap(), None, "nothing stored");
    // A creator within the timeout is unaffected.
    let quick = || async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok::<_, Boom>(2u32)
    };
    assert_eq!(s.region.get_or_create_with("k", &options, quick).await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_regeneration_serves_the_expired_value_under_fail_safe() {
    let s = setup(Some(hour_with_throttle(Duration::from_secs(30))));
    let region = Region::builder()
        .expiration_time(EXPIRATION)
        .clock(s.clock.clone())
        .fail_safe(hour_with_throttle(Duration::from_secs(30)))
        .creator_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    region.set("k", &3u32).await.unwrap();
    s.clock.advance(EXPIRATION * 2);
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, Boom>(4u32)
    };
    let (value, outcome) = region.get_or_create_with_outcome("k", &CreateOptions::new(), slow).await.unwrap();
    assert_eq!((value, outcome), (3, Outcome::FailSafe));
    let stats = region.stats();
    assert_eq!((stats.creator_timeouts, stats.fail_safe), (1, 1));
}

#[tokio::test]
async fn multi_serves_a_failed_batch_from_expired_values_or_fails_whole() {
    let s = setup(Some(hour_with_throttle(Duration::from_secs(30))));
    s.region.set_multi([("a", 1u32), ("b", 2)]).await.unwrap();
    s.clock.advance(EXPIRATION * 2);
    s.region.set("c", &3u32).await.unwrap(); // fresh
    let batches = Arc::new(AtomicUsize::new(0));
    let fail = |batches: Arc<AtomicUsize>| {
        move |_keys: Vec<CacheKey>| {
            batches.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Err::<Vec<u32>, _>(Boom))
        }
    };
    let values = s.region.get_or_create_multi(["a", "c", "b", "a"], fail(batches.clone())).await.unwrap();
    assert_eq!(values, [1, 3, 2, 1]);
    assert_eq!(s.region.stats().fail_safe, 2);
    // Throttled: no creator call within the throttle period.
    let values = s.region.get_or_create_multi(["b", "a"], fail(batches.clone())).await.unwrap();
    assert_eq!(values, [2, 1]);
    assert_eq!(batches.load(Ordering::SeqCst), 1);
    // A batch with a missing key cannot be stood in for: the error, and no key left locked.
    s.clock.advance(Duration::from_secs(31));
    let err = s.region.get_or_create_multi(["a", "new"], fail(batches.clone())).await.unwrap_err();
    assert!(err.is_creator(), "{err:?}");
    assert_eq!(batches.load(Ordering::SeqCst), 2);
    assert!(!s.region.key_is_locked("a").await.unwrap() && !s.region.key_is_locked("new").await.unwrap());
}

#[tokio::test]
async fn expiration_jitter_spreads_the_expiry_of_values_written_together() {
    let clock = MockClock::new(1_000_000.0);
    let region = Region::builder()
        .expiration_time(Duration::from_secs(100))
        .expiration_jitter(0.5)
        .clock(clock.clone())
        .build()
        .unwrap();
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
    region.set_multi(keys.iter().map(|k| (k.as_str(), 1u8))).await.unwrap();
    let fresh = |region: Region, keys: Vec<String>| async move {
        region.get_multi::<u8, _>(keys.iter().map(String::as_str)).await.unwrap().iter().flatten().count()
    };
    clock.advance(Duration::from_secs(49));
    assert_eq!(fresh(region.clone(), keys.clone()).await, 200, "none expires before half the time");
    clock.advance(Duration::from_secs(26)); // 75 s: about half have expired
    let at_75 = fresh(region.clone(), keys.clone()).await;
    assert!((40..=160).contains(&at_75), "{at_75} of 200 fresh at 75 s");
    // The same entries agree on every read; get_or_create regenerates exactly the expired ones.
    assert_eq!(fresh(region.clone(), keys.clone()).await, at_75);
    let created = Arc::new(AtomicUsize::new(0));
    for key in &keys {
        let created = Arc::clone(&created);
        region
            .get_or_create(key.as_str(), || async move {
                created.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Boom>(2u8)
            })
            .await
            .unwrap();
    }
    assert_eq!(created.load(Ordering::SeqCst), 200 - at_75);
    clock.advance(Duration::from_secs(26)); // 101 s after the first write: those have all expired
    assert_eq!(fresh(region.clone(), keys.clone()).await, 200 - at_75);

    let err = Region::builder().expiration_jitter(1.5).build().unwrap_err();
    assert!(err.to_string().contains("expiration_jitter"), "{err}");
}

mod fail_open {
    use super::*;
    use dogpile::region::FailOpen;
    use dogpile_testing::fakes::FaultyBackend;

    fn region(backend: &FaultyBackend, clock: &MockClock) -> Region {
        Region::builder()
            .backend(backend.clone())
            .expiration_time(EXPIRATION)
            .clock(clock.clone())
            .fail_open(FailOpen::new().breaker(2, Duration::from_secs(5)))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn an_unreachable_backend_is_served_from_the_creator_then_skipped_then_probed() {
        let (backend, clock) = (FaultyBackend::new(), MockClock::new(1_000_000.0));
        let region = region(&backend, &clock);
        backend.fail_reads(true);
        backend.fail_writes(true);
        let calls = Arc::new(AtomicUsize::new(0));
        let counting = |n: u32| {
            let calls = Arc::clone(&calls);
            move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Boom>(n)
            }
        };
        let options = CreateOptions::new();
        let strict = CreateOptions::new().no_fail_open();
        let err = region.get_or_create_with("k", &strict, counting(0)).await.unwrap_err();
        assert!(err.is_connection(), "off for this call: {err:?}");
        assert_eq!(region.stats().fail_open, 0);
        let (value, outcome) = region.get_or_create_with_outcome("k", &options, counting(1)).await.unwrap();
        assert_eq!((value, outcome), (1, Outcome::Created));
        // The value made during the outage is kept in process: no second creator run.
        let (value, outcome) = region.get_or_create_with_outcome("k", &options, counting(2)).await.unwrap();
        assert_eq!((value, outcome), (1, Outcome::Fresh));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let stats = region.stats();
        assert_eq!((stats.fail_open, stats.breaker_opened), (2, 1), "{stats:?}");
        // The breaker is open: the backend is not tried at all.
        let tried = backend.calls();
        assert_eq!(region.get_or_create("other", counting(3)).await.unwrap(), 3);
        assert_eq!(backend.calls(), tried);
        // Plain reads have no creator: the backend's error, clear and at once.
        assert!(region.get::<u32>("k").await.unwrap_err().is_connection());

        // After the cooldown the backend is probed; it is back: the region returns to it and
        // drops what it kept in process.
        backend.fail_reads(false);
        backend.fail_writes(false);
        clock.advance(Duration::from_secs(6));
        let (value, outcome) = region.get_or_create_with_outcome("k", &options, counting(4)).await.unwrap();
        assert_eq!((value, outcome), (4, Outcome::Created));
        assert!(backend.calls() > tried);
        assert_eq!(region.get::<u32>("k").await.unwrap(), Some(4), "stored in the backend");
        assert_eq!(region.get_or_create("other", counting(5)).await.unwrap(), 5, "the stand-in store was emptied");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_during_an_outage_share_one_creator_run_per_key() {
        let (backend, clock) = (FaultyBackend::new(), MockClock::at_system_time());
        let region = region(&backend, &clock);
        backend.fail_reads(true);
        backend.fail_writes(true);
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let (region, calls) = (region.clone(), Arc::clone(&calls));
                tokio::spawn(async move {
                    let key = format!("k{}", i % 4);
                    let made = key.clone();
                    let value = region
                        .get_or_create(key.as_str(), || async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(30)).await;
                            Ok::<_, Boom>(made)
                        })
                        .await
                        .unwrap();
                    assert_eq!(value, key);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        let values: Vec<String> = region
            .get_or_create_multi(["k0", "k9"], |missing| async move {
                Ok::<_, Boom>(missing.iter().map(|k| format!("made {k}")).collect())
            })
            .await
            .unwrap();
        assert_eq!(values, ["k0", "made k9"]);
        // The creator runs in the stand-in store are the region's: 4 single ones, 1 batch.
        let stats = region.stats();
        assert_eq!(stats.creates, 5, "{stats:?}");
        assert!(stats.backend_errors >= 1, "{stats:?}");
    }

    #[tokio::test]
    async fn without_fail_open_the_outage_is_the_callers_error() {
        let backend = FaultyBackend::new();
        let region = Region::builder().backend(backend.clone()).build().unwrap();
        backend.fail_reads(true);
        let err = region.get_or_create("k", || async { Ok::<_, Boom>(1u32) }).await.unwrap_err();
        assert!(err.is_connection(), "{err:?}");
        let err = region.get_or_create_multi(["k"], |_| async { Ok::<_, Boom>(vec![1u32]) }).await.unwrap_err();
        assert!(err.is_connection(), "{err:?}");
        assert_eq!(region.stats().fail_open, 0);
    }
}

mod early_refresh {
    use super::*;
    use dogpile::region::EarlyRefresh;

    /// A creator that takes `took` of mock time and returns `value`, holding on until
    /// `release` is notified when given.
    fn timed_creator(
        clock: &MockClock,
        took: Duration,
        value: u32,
        runs: &Arc<AtomicUsize>,
        release: Option<Arc<tokio::sync::Notify>>,
    ) -> impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, Boom>> + Send>> + Send + 'static
    {
        let (clock, runs) = (clock.clone(), Arc::clone(runs));
        move || {
            Box::pin(async move {
                runs.fetch_add(1, Ordering::SeqCst);
                if let Some(release) = release {
                    release.notified().await;
                }
                clock.advance(took);
                Ok(value)
            })
        }
    }

    #[tokio::test]
    async fn a_hit_near_expiry_regenerates_once_in_the_background_and_returns_at_once() {
        let clock = MockClock::new(1_000_000.0);
        let region = Region::builder()
            .expiration_time(EXPIRATION)
            .clock(clock.clone())
            .early_refresh(EarlyRefresh::new(1.0).seed(42))
            .build()
            .unwrap();
        let options = CreateOptions::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let created: u32 = region
            .get_or_create_in_background("hot", &options, timed_creator(&clock, Duration::from_secs(2), 1, &runs, None))
            .await
            .unwrap();
        assert_eq!(created, 1);
        let took = region.get_value_metadata::<u32>("hot").await.unwrap().unwrap().metadata.d;
        assert_eq!(took, Some(2.0), "the creation duration is recorded");

        // 50 s left with a 2 s creator: exp(-25), never in 500 hits.
        clock.advance(Duration::from_secs(10));
        for _ in 0..500 {
            let v = region
                .get_or_create_in_background("hot", &options, timed_creator(&clock, Duration::ZERO, 9, &runs, None))
                .await
                .unwrap();
            assert_eq!(v, 1);
        }
        assert_eq!(region.stats().early_refreshes, 0);

        // 0.1 s left: exp(-0.05), almost surely. The caller gets the current value at once
        // while one background regeneration runs; others find the lock held.
        clock.advance(Duration::from_millis(49_900));
        let release = Arc::new(tokio::sync::Notify::new());
        for _ in 0..20 {
            let v = region
                .get_or_create_in_background(
                    "hot",
                    &options,
                    timed_creator(&clock, Duration::from_secs(1), 2, &runs, Some(Arc::clone(&release))),
                )
                .await
                .unwrap();
            assert_eq!(v, 1, "the current value, without waiting");
            tokio::task::yield_now().await;
        }
        assert_eq!(region.stats().early_refreshes, 1);
        assert_eq!(runs.load(Ordering::SeqCst), 2, "one regeneration in flight");
        release.notify_one();
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert_eq!(region.get::<u32>("hot").await.unwrap(), Some(2));
        let stats = region.stats();
        assert_eq!((stats.stale, stats.waits), (0, 0), "{stats:?}");
    }

    #[tokio::test]
    async fn plain_get_or_create_and_values_without_a_duration_are_not_refreshed_early() {
        let clock = MockClock::new(1_000_000.0);
        let region = Region::builder()
            .expiration_time(EXPIRATION)
            .clock(clock.clone())
            .early_refresh(EarlyRefresh::new(1.0).seed(1))
            .build()
            .unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        region.get_or_create("a", timed_creator(&clock, Duration::from_secs(2), 1, &runs, None)).await.unwrap();
        region.set("b", &1u32).await.unwrap(); // no creation duration
        let options = CreateOptions::new();
        region
            .get_or_create_in_background("c", &options, timed_creator(&clock, Duration::from_secs(2), 1, &runs, None))
            .await
            .unwrap();
        // "a" and "b" are 59.95 s old, "c" 57.95 s (2.05 s left of a 2 s creation).
        clock.advance(Duration::from_millis(57_950));
        let off = CreateOptions::new().no_early_refresh();
        for _ in 0..100 {
            region
                .get_or_create_in_background("c", &off, timed_creator(&clock, Duration::ZERO, 2, &runs, None))
                .await
                .unwrap();
        }
        assert_eq!(region.stats().early_refreshes, 0, "off for these calls");
        for _ in 0..100 {
            region.get_or_create("a", timed_creator(&clock, Duration::ZERO, 2, &runs, None)).await.unwrap();
            region
                .get_or_create_in_background(
                    "b",
                    &CreateOptions::new(),
                    timed_creator(&clock, Duration::ZERO, 2, &runs, None),
                )
                .await
                .unwrap();
        }
        assert_eq!(region.stats().early_refreshes, 0);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert!(Region::builder().early_refresh(EarlyRefresh::new(0.0)).build().is_err());
    }

    /// Under a steady load on a hot key, with real time: every expiry is anticipated, so no
    /// caller waits for a regeneration and no expired value is served. (beta 4 starts the
    /// refreshes a few hundred ms ahead, a margin for a loaded machine's scheduling.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_steady_load_no_caller_waits_and_nothing_is_served_expired() {
        let region = Region::builder()
            .expiration_time(Duration::from_millis(600))
            .early_refresh(EarlyRefresh::new(4.0))
            .build()
            .unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let until = std::time::Instant::now() + Duration::from_millis(2000);
        let callers: Vec<_> = (0..16)
            .map(|_| {
                let (region, runs) = (region.clone(), Arc::clone(&runs));
                tokio::spawn(async move {
                    while std::time::Instant::now() < until {
                        let runs = Arc::clone(&runs);
                        region
                            .get_or_create_in_background("hot", &CreateOptions::new(), move || async move {
                                runs.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                Ok::<_, Boom>(1u32)
                            })
                            .await
                            .unwrap();
                        tokio::time::sleep(Duration::from_micros(200)).await;
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap();
        }
        let stats = region.stats();
        eprintln!("{stats:?}, creator runs {}", runs.load(Ordering::SeqCst));
        assert_eq!(stats.stale, 0, "{stats:?}");
        assert!(stats.early_refreshes >= 3, "{stats:?}");
        // The first call waited for nothing but its own creation; later ones never waited.
        assert!(stats.waits <= 15, "{stats:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_soft_timeout_waits_that_long_for_the_regeneration_then_serves_stale() {
    let clock = MockClock::new(1_000_000.0);
    let region = Region::builder()
        .expiration_time(EXPIRATION)
        .clock(clock.clone())
        .soft_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let creator = |value: u32, takes: Duration| {
        move || async move {
            tokio::time::sleep(takes).await;
            Ok::<_, Boom>(value)
        }
    };
    let options = CreateOptions::new();
    region.set("k", &1u32).await.unwrap();
    clock.advance(EXPIRATION * 2);
    // The regeneration finishes within the soft timeout: the caller gets it fresh.
    let v = region.get_or_create_in_background("k", &options, creator(2, Duration::from_millis(50))).await.unwrap();
    assert_eq!(v, 2);
    // A slow one: the stale value after the soft timeout; the regeneration goes on and stores.
    clock.advance(EXPIRATION * 2);
    let started = tokio::time::Instant::now();
    let v = region.get_or_create_in_background("k", &options, creator(3, Duration::from_millis(500))).await.unwrap();
    assert_eq!(v, 2);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(100) && waited < Duration::from_millis(500), "{waited:?}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(region.get::<u32>("k").await.unwrap(), Some(3));
    // Without a soft timeout (for this call too), the stale value at once.
    let no_soft = Region::builder().expiration_time(EXPIRATION).clock(clock.clone()).build().unwrap();
    no_soft.set("k", &1u32).await.unwrap();
    clock.advance(EXPIRATION * 2);
    let v = no_soft.get_or_create_in_background("k", &options, creator(2, Duration::from_millis(50))).await.unwrap();
    assert_eq!(v, 1);
    let per_call = CreateOptions::new().soft_timeout(Duration::from_millis(100));
    tokio::time::sleep(Duration::from_millis(100)).await; // the regeneration of 2 is stored
    assert_eq!(no_soft.get::<u32>("k").await.unwrap(), Some(2));
    clock.advance(EXPIRATION * 2);
    let v = no_soft.get_or_create_in_background("k", &per_call, creator(4, Duration::from_millis(50))).await.unwrap();
    assert_eq!(v, 4);
}

#[tokio::test(start_paused = true)]
async fn multi_in_background_serves_an_expired_batch_at_once_or_within_the_soft_timeout() {
    let clock = MockClock::new(1_000_000.0);
    let region = Region::builder().expiration_time(EXPIRATION).clock(clock.clone()).build().unwrap();
    let batches = Arc::new(AtomicUsize::new(0));
    let creator = |base: u32, takes: Duration| {
        let batches = Arc::clone(&batches);
        move |keys: Vec<CacheKey>| async move {
            batches.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(takes).await;
            Ok::<_, Boom>((0..keys.len() as u32).map(|i| base + i).collect::<Vec<u32>>())
        }
    };
    let options = CreateOptions::new();
    region.set_multi([("a", 1u32), ("b", 2)]).await.unwrap();
    clock.advance(EXPIRATION * 2);
    let started = tokio::time::Instant::now();
    let got = region
        .get_or_create_multi_in_background(["a", "b", "a"], &options, creator(10, Duration::from_millis(500)))
        .await
        .unwrap();
    assert_eq!(got, [1, 2, 1], "the expired batch at once");
    assert!(started.elapsed() < Duration::from_millis(100));
    assert!(region.key_is_locked("a").await.unwrap(), "the regeneration holds the locks");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(region.get_multi::<u32, _>(["a", "b"]).await.unwrap(), [Some(10), Some(11)]);
    assert!(!region.key_is_locked("a").await.unwrap());

    // Within the soft timeout: fresh.
    clock.advance(EXPIRATION * 2);
    let soft = CreateOptions::new().soft_timeout(Duration::from_millis(100));
    let got = region
        .get_or_create_multi_in_background(["a", "b"], &soft, creator(20, Duration::from_millis(50)))
        .await
        .unwrap();
    assert_eq!(got, [20, 21]);
    // A missing key: created by the caller, with the expired one.
    clock.advance(EXPIRATION * 2);
    let got = region
        .get_or_create_multi_in_background(["a", "new"], &options, creator(30, Duration::from_millis(10)))
        .await
        .unwrap();
    assert_eq!(got, [30, 31]);
    assert_eq!(batches.load(Ordering::SeqCst), 3);
}
