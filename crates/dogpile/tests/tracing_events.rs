//! dogpile's decisions as `tracing` debug events, captured with a test subscriber: what is
//! logged, with which fields, and how keys appear.
#![cfg(feature = "tracing")]

use std::time::Duration;

use dogpile::codec::{Compat, Value};
use dogpile::region::{CreateOptions, KeyLogging};
use dogpile::{Bytes, CacheKey, MockClock, Region};
use dogpile_testing::trace::Capture;

fn has(events: &[String], message: &str) -> String {
    events
        .iter()
        .find(|e| e.contains(&format!("message={message}")))
        .cloned()
        .unwrap_or_else(|| panic!("no {message:?} event in {events:#?}"))
}

#[tokio::test]
async fn a_creation_logs_the_miss_the_lock_and_the_time_it_took() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let region = Region::builder().name("users").log_keys(KeyLogging::Plain).build().unwrap();
    let _: u32 = region.get_or_create("user:1", || async { Ok::<_, std::io::Error>(1) }).await.unwrap();
    let events = capture.take();
    let missing = has(&events, "no value present");
    assert!(missing.contains("region=users") && missing.contains("key=user:1"), "{missing}");
    has(&events, "lock taken");
    let generated = has(&events, "value generated");
    assert!(generated.contains("took_ms="), "{generated}");
    // A hit decides nothing.
    let _: u32 = region.get_or_create("user:1", || async { Ok::<_, std::io::Error>(2) }).await.unwrap();
    assert!(capture.take().is_empty());
}

/// dogpile logs a missing value only when the key has none: a value that a hard invalidation
/// set aside is logged as that, single key and multi key alike.
#[tokio::test]
async fn a_hard_invalidated_value_is_not_logged_as_missing() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let clock = MockClock::new(1_000.0);
    let region = Region::builder().log_keys(KeyLogging::Plain).clock(clock.clone()).build().unwrap();
    region.set_multi([("a", 1u32), ("b", 2u32)]).await.unwrap();
    clock.advance(Duration::from_millis(1));
    region.invalidate(true);
    clock.advance(Duration::from_millis(1));
    let _: u32 = region.get_or_create("a", || async { Ok::<_, std::io::Error>(3) }).await.unwrap();
    let _: Vec<u32> = region
        .get_or_create_multi(["b"], |keys| async move { Ok::<_, std::io::Error>(keys.iter().map(|_| 4).collect()) })
        .await
        .unwrap();
    let events = capture.take();
    for key in ["a", "b"] {
        let ignored = format!("message=hard invalidation: value ignored region= key={key} ");
        assert!(events.iter().any(|e| e.contains(&ignored)), "{events:#?}");
    }
    assert!(events.iter().all(|e| !e.contains("message=no value present")), "{events:#?}");
}

#[tokio::test]
async fn keys_are_hashed_by_default_or_left_out() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let hashed = Region::builder().build().unwrap();
    let _: u32 = hashed.get_or_create("ada@example.com", || async { Ok::<_, std::io::Error>(1) }).await.unwrap();
    let omitted = Region::builder().log_keys(KeyLogging::Omitted).build().unwrap();
    let _: u32 = omitted.get_or_create("ada@example.com", || async { Ok::<_, std::io::Error>(1) }).await.unwrap();
    let events = capture.take();
    assert!(events.iter().all(|e| !e.contains("ada@example.com")), "{events:#?}");
    let keys: Vec<&str> = events.iter().filter_map(|e| e.split("key=").nth(1)?.split(' ').next()).collect();
    assert!(keys.iter().any(|k| k.len() == 16 && k.chars().all(|c| c.is_ascii_hexdigit())), "{keys:?}");
    assert!(keys.contains(&"-"), "{keys:?}");
}

#[tokio::test]
async fn stale_values_invalidation_versions_and_undecodable_entries_are_logged() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let clock = MockClock::new(1_000.0);
    let region = Region::builder()
        .log_keys(KeyLogging::Plain)
        .clock(clock.clone())
        .expiration_time(Duration::from_secs(10))
        .build()
        .unwrap();
    let options = CreateOptions::new();

    // An expired value, regenerated in the background: served stale.
    region.set("k", &1u32).await.unwrap();
    clock.advance(Duration::from_secs(20));
    let _: u32 =
        region.get_or_create_in_background("k", &options, || async { Ok::<_, std::io::Error>(2) }).await.unwrap();
    let stale = has(&capture.take(), "stale value served");
    assert!(stale.contains("key=k") && stale.contains("outcome=StaleBackground"), "{stale}");
    tokio::time::sleep(Duration::from_millis(20)).await;

    // A hard invalidation makes the value unusable.
    region.set("h", &1u32).await.unwrap();
    clock.advance(Duration::from_secs(1));
    region.invalidate(true);
    clock.advance(Duration::from_secs(1));
    let _: u32 = region.get_or_create("h", || async { Ok::<_, std::io::Error>(2) }).await.unwrap();
    has(&capture.take(), "hard invalidation: value ignored");

    // Another value version, and bytes in another deployment's layout.
    let old =
        Compat::Native.codec().with_value_version(1).encode(&Value::from(1), dogpile::Clock::now(&clock)).unwrap();
    region.backend().set(&CacheKey::from("v"), Bytes::from(old)).await.unwrap();
    assert_eq!(region.get::<u32>("v").await.unwrap(), None);
    let mismatch = has(&capture.take(), "value version mismatch: treated as missing");
    assert!(mismatch.contains("stored=1") && mismatch.contains("expected=2"), "{mismatch}");

    let pickled = Compat::Dogpile1.codec().encode(&Value::from("x"), dogpile::Clock::now(&clock)).unwrap();
    region.backend().set(&CacheKey::from("p"), Bytes::from(pickled)).await.unwrap();
    assert_eq!(region.get::<String>("p").await.unwrap(), None);
    let undecodable = has(&capture.take(), "entry did not decode: treated as missing");
    assert!(undecodable.contains("format=dogpile 1.x, pickle"), "{undecodable}");
}

// One thread: the subscriber set here is this thread's, and the creating task runs on it too.
#[tokio::test]
async fn a_caller_that_waits_for_another_creation_logs_the_wait() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let region = Region::builder().log_keys(KeyLogging::Plain).build().unwrap();
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
    let creating = tokio::spawn({
        let region = region.clone();
        async move {
            region
                .get_or_create("slow", || async move {
                    let _ = entered_tx.send(());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok::<_, std::io::Error>(7u32)
                })
                .await
        }
    });
    entered_rx.await.unwrap();
    let got: u32 = region.get_or_create("slow", || async { Ok::<_, std::io::Error>(8) }).await.unwrap();
    assert_eq!(got, 7);
    assert_eq!(creating.await.unwrap().unwrap(), 7);
    let events = capture.take();
    let waited = has(&events, "lock waited for");
    assert!(waited.contains("key=slow") && waited.contains("handed_over=true"), "{waited}");
    let held = has(&events, "lock held elsewhere");
    assert!(held.contains("key=slow"), "{held}");
}

#[tokio::test]
async fn region_calls_and_their_backend_calls_run_in_spans() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let region = Region::builder().name("users").log_keys(KeyLogging::Plain).build().unwrap();
    region.set("user:1", &1u32).await.unwrap();
    let _: Vec<Option<u32>> = region.get_multi(["user:1", "user:2"]).await.unwrap();
    let spans = capture.take_spans();
    let span = |prefix: &str| {
        spans.iter().find(|s| s.starts_with(prefix)).cloned().unwrap_or_else(|| panic!("no {prefix} in {spans:#?}"))
    };
    let set = span("span=dogpile.region parent=none operation=set");
    assert!(set.contains("region=users") && set.contains("key=user:1"), "{set}");
    let stored = span("span=dogpile.backend parent=dogpile.region call=set");
    assert!(stored.contains("backend=memory") && stored.contains("keys=1"), "{stored}");
    let multi = span("span=dogpile.region parent=none operation=get_multi");
    assert!(multi.contains("keys=2"), "{multi}");
    span("span=dogpile.backend parent=dogpile.region call=get_multi");
}

#[tokio::test]
async fn a_multi_call_logs_its_missing_keys_and_its_batch_creation() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let region = Region::builder().name("users").log_keys(KeyLogging::Plain).build().unwrap();
    region.set("u:1", &1u32).await.unwrap();
    let got: Vec<u32> = region
        .get_or_create_multi(["u:1", "u:2", "u:3"], |keys| async move {
            Ok::<_, std::io::Error>(keys.iter().map(|_| 9).collect())
        })
        .await
        .unwrap();
    assert_eq!(got, [1, 9, 9]);
    let events = capture.take();
    let missing: Vec<&String> = events.iter().filter(|e| e.contains("message=no value present")).collect();
    assert_eq!(missing.len(), 2, "{events:#?}");
    assert!(missing.iter().any(|e| e.contains("key=u:2")) && missing.iter().any(|e| e.contains("key=u:3")));
    let generated = has(&events, "values generated");
    assert!(generated.contains("keys=2") && generated.contains("took_ms="), "{generated}");
}

/// An argument no backend or codec reads is reported once, at warn level, naming it; the
/// arguments that are read, and a second region with the same typo, are not.
#[test]
fn an_unused_argument_is_warned_of_once() {
    use dogpile::config::Arguments;

    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let args = || {
        Arguments::new()
            .with("capacity", 10)
            .with("serializer", "json")
            .with("capactiy_typo", 10)
            .with("time_to_live", "5m")
    };
    Region::builder().configure("dogpile.cache.memory", args()).build().unwrap();
    let events = capture.take();
    let warned: Vec<&String> = events.iter().filter(|e| e.contains("level=WARN")).collect();
    assert_eq!(warned.len(), 1, "{events:#?}");
    assert!(warned[0].contains("capactiy_typo") && warned[0].contains("dogpile.cache.memory"), "{}", warned[0]);
    Region::builder().configure("dogpile.cache.memory", args()).build().unwrap();
    assert!(!capture.take().iter().any(|e| e.contains("level=WARN")), "once per process");
}
