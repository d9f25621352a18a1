//! Region behaviour beyond the conformance suite: faults, cancellation, background
//! regeneration, counters.

use dogpile_testing::fakes::Boom;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dogpile::backend::{Backend, Capabilities, MemoryBackend};
use dogpile::region::CreateOptions;
use dogpile::{BackendErrorKind, Bytes, CacheKey, Error, MockClock, Region, Result};
use dogpile_testing::fakes::FaultyBackend;

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f).await.expect("timed out")
}

#[tokio::test]
async fn backend_down_is_an_error_with_the_key_and_frees_the_lock() {
    let backend = FaultyBackend::new();
    let region = Region::builder().backend(backend.clone()).build().unwrap();
    backend.fail_reads(true);
    let err = region.get::<u32>("k").await.unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    assert_eq!(err.key(), Some(&CacheKey::from("k")));
    assert!(err.to_string().contains("key k"), "{err}");
    let err = region.get_or_create("k", || async { Ok::<_, Boom>(1u32) }).await.unwrap_err();
    assert_eq!(err.backend_kind(), Some(BackendErrorKind::Connection));
    assert!(!region.key_is_locked("k").await.unwrap());
    backend.fail_reads(false);
    let v: u32 = within(region.get_or_create("k", || async { Ok::<_, Boom>(2u32) })).await.unwrap();
    assert_eq!(v, 2);
}

#[tokio::test]
async fn a_failed_store_after_creation_returns_the_value_and_reports() {
    let backend = FaultyBackend::new();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&seen);
    let region = Region::builder()
        .backend(backend.clone())
        .on_background_error(move |e: &Error| sink.lock().unwrap().push(e.to_string()))
        .build()
        .unwrap();
    backend.fail_writes(true);
    let v: u32 = region.get_or_create("k", || async { Ok::<_, Boom>(5u32) }).await.unwrap();
    assert_eq!(v, 5);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains("key k"), "{seen:?}");
    let err = region.set("k", &1).await.unwrap_err();
    assert!(err.is_connection() && err.key() == Some(&CacheKey::from("k")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_creator_frees_the_key_and_wakes_waiters() {
    let region = Region::builder().build().unwrap();
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
    let stuck = tokio::spawn({
        let region = region.clone();
        async move {
            region
                .get_or_create("k", || async move {
                    let _ = entered_tx.send(());
                    std::future::pending::<()>().await;
                    Ok::<_, Boom>(0u32)
                })
                .await
        }
    });
    within(entered_rx).await.unwrap();
    assert!(region.key_is_locked("k").await.unwrap());
    let waiter = tokio::spawn({
        let region = region.clone();
        async move { region.get_or_create("k", || async { Ok::<_, Boom>(7u32) }).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!waiter.is_finished(), "the waiter waits for the stuck creator");
    stuck.abort();
    assert_eq!(within(waiter).await.unwrap().unwrap(), 7, "the waiter takes over after the cancellation");
    assert!(!region.key_is_locked("k").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_regeneration_serves_stale_and_regenerates_once() {
    let clock = MockClock::at_system_time();
    let region = Region::builder().clock(clock.clone()).expiration_time(Duration::from_secs(10)).build().unwrap();
    region.set("k", &"old").await.unwrap();
    clock.advance(Duration::from_secs(11));
    let runs = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let options = CreateOptions::new();
    let mut answers = Vec::new();
    for _ in 0..50 {
        let (runs, release) = (runs.clone(), release.clone());
        let got: String = within(region.get_or_create_in_background("k", &options, move || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            let _permit = release.acquire().await;
            Ok::<_, Boom>("new".to_string())
        }))
        .await
        .unwrap();
        answers.push(got);
    }
    assert!(
        answers.iter().all(|a| a == "old"),
        "every caller, the one that started regeneration too, gets the stale value"
    );
    assert!(region.key_is_locked("k").await.unwrap(), "the background task holds the lock");
    release.add_permits(1);
    within(async {
        while region.key_is_locked("k").await.unwrap() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(region.get::<String>("k").await.unwrap().as_deref(), Some("new"));
    let stats = region.stats();
    assert_eq!((stats.background, stats.stale), (1, 50), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_creator_errors_go_to_the_sink() {
    let clock = MockClock::at_system_time();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&seen);
    let region = Region::builder()
        .clock(clock.clone())
        .expiration_time(Duration::from_secs(10))
        .on_background_error(move |e: &Error| sink.lock().unwrap().push(e.to_string()))
        .build()
        .unwrap();
    region.set("k", &1u8).await.unwrap();
    clock.advance(Duration::from_secs(11));
    let got: u8 =
        region.get_or_create_in_background("k", &CreateOptions::new(), || async { Err::<u8, _>(Boom) }).await.unwrap();
    assert_eq!(got, 1);
    within(async {
        while seen.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(seen.lock().unwrap()[0].contains("boom"));
    assert!(!region.key_is_locked("k").await.unwrap(), "the lock is released after a failed background run");
}

#[tokio::test]
async fn stats_count_hits_misses_and_creates() {
    let region = Region::builder().build().unwrap();
    let _: u8 = region.get_or_create("k", || async { Ok::<_, Boom>(1u8) }).await.unwrap();
    let _: u8 = region.get_or_create("k", || async { Ok::<_, Boom>(1u8) }).await.unwrap();
    let _ = region.get::<u8>("absent").await.unwrap();
    let stats = region.stats();
    assert_eq!((stats.creates, stats.hits, stats.misses), (1, 1, 2), "{stats:?}");
}

#[derive(Debug, Default)]
struct PlainOnly(MemoryBackend);

impl Backend for PlainOnly {
    fn name(&self) -> &'static str {
        "plain-only"
    }
    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        Backend::get(&self.0, key).await
    }
    async fn set(&self, key: &CacheKey, value: Bytes) -> Result<()> {
        Backend::set(&self.0, key, value).await
    }
    async fn delete(&self, key: &CacheKey) -> Result<()> {
        Backend::delete(&self.0, key).await
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new().with_hash_keys(false)
    }
}

#[tokio::test]
async fn hash_keys_on_a_backend_without_them_are_refused_before_any_io() {
    let region = Region::builder().backend(PlainOnly::default()).build().unwrap();
    for err in [
        region.get::<u8>(("h", "f")).await.unwrap_err(),
        region.get_multi::<u8, _>([CacheKey::from("a"), CacheKey::hash("h", "f")]).await.unwrap_err(),
        region.set_multi([(CacheKey::from("a"), 1), (CacheKey::hash("h", "f"), 2)]).await.unwrap_err(),
        region.get_or_create(("h", "f"), || async { Ok::<_, Boom>(1u8) }).await.unwrap_err(),
    ] {
        assert!(matches!(&err, Error::UnsupportedKey { backend: "plain-only", .. }), "{err:?}");
        assert!(err.to_string().contains("(\"h\", \"f\")"), "{err}");
    }
    assert_eq!(region.get::<u8>("a").await.unwrap(), None, "nothing of the refused batch was written");
}

#[tokio::test]
async fn debug_output_names_the_parts() {
    let region = Region::builder().name("users").build().unwrap();
    let shown = format!("{region:?}");
    assert!(shown.contains("users") && shown.contains("MemoryBackend"), "{shown}");
}

#[test]
fn futures_are_send() {
    fn is_send<F: std::future::Future + Send>(_: F) {}
    let region = Region::builder().build().unwrap();
    let options = CreateOptions::<u32>::new();
    is_send(region.get::<u32>("k"));
    is_send(region.get_multi::<u32, _>(["k"]));
    is_send(region.get_value_metadata::<u32>("k"));
    is_send(region.set("k", &1u32));
    is_send(region.set_multi([("k", 1u32)]));
    is_send(region.delete("k"));
    is_send(region.delete_multi(["k"]));
    is_send(region.key_is_locked("k"));
    is_send(region.get_or_create("k", || async { Ok::<u32, Boom>(1) }));
    is_send(region.get_or_create_with("k", &options, || async { Ok::<u32, Boom>(1) }));
    is_send(region.get_or_create_in_background("k", &options, || async { Ok::<u32, Boom>(1) }));
    is_send(region.get_or_create_with_outcome("k", &options, || async { Ok::<u32, Boom>(1) }));
    is_send(region.get_or_create_multi(["k"], |_| async { Ok::<Vec<u32>, Boom>(vec![1]) }));
    is_send(region.get_or_create_multi_in_background(["k"], &options, |_| async { Ok::<Vec<u32>, Boom>(vec![1]) }));
    let f = region.cache_on_arguments("f", |(x,): (u32,)| async move { Ok::<u32, Boom>(x) });
    is_send(f.call((1,)));
}

/// dogpile's `test_soft_invalidate_requires_expire_time_get` and `..._get_multi`: after a soft
/// invalidation, a read-through without an expiration time fails before anything is created,
/// even for a key that has no value; with an expiration time on the call it works.
#[tokio::test]
async fn soft_invalidation_without_an_expiration_time_fails_the_first_call_too() {
    let region = Region::builder().build().unwrap();
    region.invalidate(false);
    let created = AtomicUsize::new(0);
    let single = region
        .get_or_create("never-set", || async {
            created.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(1u32)
        })
        .await;
    assert!(matches!(&single, Err(Error::Config { name, .. }) if name == "expiration_time"), "{single:?}");
    let multi = region
        .get_or_create_multi(["a", "b"], |keys| {
            created.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, std::io::Error>(keys.iter().map(|_| 1u32).collect()) }
        })
        .await;
    assert!(matches!(&multi, Err(Error::Config { name, .. }) if name == "expiration_time"), "{multi:?}");
    assert_eq!(created.load(Ordering::SeqCst), 0, "no creator ran");
    assert_eq!(region.get::<u32>("never-set").await.unwrap(), None, "nothing was cached");

    let options = CreateOptions::new().expiration_time(Duration::from_secs(60));
    let with_expiry: u32 =
        region.get_or_create_with("never-set", &options, || async { Ok::<_, std::io::Error>(2) }).await.unwrap();
    assert_eq!(with_expiry, 2);
}

/// dogpile reads an entry of another value version as a miss, whatever the number (its own
/// tests store `value_version - 5`): under the error policy too, in every envelope that keeps
/// the version, for a single read, a multi read and a read-through.
#[tokio::test]
async fn an_entry_of_a_negative_value_version_is_a_miss_not_an_error() {
    use dogpile::codec::{Codec, DecodeErrorPolicy, Envelope, Format};

    let entries: [(&str, Envelope, Vec<u8>); 2] = [
        ("dogpile 1.x", Envelope::Dogpile1, b"{\"ct\": 4102444800.0, \"v\": -3}|\x07".to_vec()),
        // The seed's msgpack `[payload, {"ct": .., "v": -3}]`.
        ("seed", Envelope::Seed, b"\x92\x07\x82\xa2ct\xcb\x41\xee\x90\xca\xe0\x00\x00\x00\xa1v\xfd".to_vec()),
    ];
    for (name, envelope, bytes) in entries {
        let backend = Arc::new(MemoryBackend::default());
        let region = Region::builder()
            .backend_arc(backend.clone())
            .codec(Codec::new(Format::Msgpack, envelope))
            .on_decode_error(DecodeErrorPolicy::Error)
            .build()
            .unwrap();
        backend.set(&CacheKey::from("k"), Bytes::from(bytes)).await.unwrap();
        assert_eq!(region.get::<u32>("k").await.unwrap(), None, "{name}");
        assert_eq!(region.get_multi::<u32, _>(["k"]).await.unwrap(), [None], "{name}");
        let created: u32 = region.get_or_create("k", || async { Ok::<_, Boom>(9) }).await.unwrap();
        assert_eq!(created, 9, "{name}");
        assert_eq!(region.stats().decode_errors, 0, "{name}");
    }
}
