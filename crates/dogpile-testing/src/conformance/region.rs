//! The region over a backend (dogpile's `_GenericBackendTestSuite`, region part).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dogpile::codec::DecodeErrorPolicy;
use dogpile::config::Arguments;
use dogpile::region::{CreateOptions, GetOptions};
use dogpile::{Bytes, CacheKey, Error, KeyMangler, MockClock, Region, VALUE_VERSION};
use serde::{Deserialize, Serialize};

use super::{Boom, within};
use crate::Fixture;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    id: u64,
    name: String,
    tags: Vec<String>,
}

fn row(id: u64) -> Row {
    Row { id, name: format!("row {id}"), tags: vec!["a".into(), "b".into()] }
}

fn ok<T>(value: T) -> Result<T, Boom> {
    Ok(value)
}

fn expiring(f: &Fixture, clock: &MockClock, secs: u64) -> Region {
    let clock = clock.clone();
    f.region(|b| b.clock(clock).expiration_time(Duration::from_secs(secs)))
}

/// Values of several types survive set and get.
pub async fn set_get(f: Fixture) {
    let region = f.region(|b| b);
    region.set("row", &row(1)).await.unwrap();
    region.set("num", &42i64).await.unwrap();
    region.set("text", "hello").await.unwrap();
    assert_eq!(region.get::<Row>("row").await.unwrap(), Some(row(1)));
    assert_eq!(region.get::<i64>("num").await.unwrap(), Some(42));
    assert_eq!(region.get::<String>("text").await.unwrap().as_deref(), Some("hello"));
    assert_eq!(region.get::<Row>("absent").await.unwrap(), None);
}

/// `set_multi` then `get_multi` gives the values in the caller's order, with misses as `None`.
pub async fn set_multi_get_multi_with_misses_in_order(f: Fixture) {
    let region = f.region(|b| b);
    region.set_multi((1..=3).map(|i| (format!("k{i}"), row(i)))).await.unwrap();
    let got: Vec<Option<Row>> = region.get_multi(["k3", "nope", "k1", "k3", "also-nope"]).await.unwrap();
    assert_eq!(got, vec![Some(row(3)), None, Some(row(1)), Some(row(3)), None]);
}

/// Empty multi operations succeed and do nothing.
pub async fn empty_multi_operations(f: Fixture) {
    let region = f.region(|b| b);
    let none: Vec<CacheKey> = Vec::new();
    assert!(region.get_multi::<u8, _>(none.clone()).await.unwrap().is_empty());
    region.set_multi(Vec::<(CacheKey, u8)>::new()).await.unwrap();
    region.delete_multi(none.clone()).await.unwrap();
    let created: Vec<u8> = region
        .get_or_create_multi(none, |_keys: Vec<CacheKey>| async {
            panic!("creator called for no keys") as Result<Vec<u8>, Boom>
        })
        .await
        .unwrap();
    assert!(created.is_empty());
}

/// `delete` and `delete_multi` remove values.
pub async fn delete_and_delete_multi(f: Fixture) {
    let region = f.region(|b| b);
    region.set_multi([("a", 1), ("b", 2), ("c", 3)]).await.unwrap();
    region.delete("a").await.unwrap();
    region.delete_multi(["b", "zz"]).await.unwrap();
    assert_eq!(region.get_multi::<i32, _>(["a", "b", "c"]).await.unwrap(), vec![None, None, Some(3)]);
}

/// The creator runs on a miss and its value is served afterwards.
pub async fn creator_runs_once_then_cached(f: Fixture) {
    let region = f.region(|b| b);
    let calls = AtomicUsize::new(0);
    for _ in 0..3 {
        let v: Row = region
            .get_or_create("k", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                ok(row(7))
            })
            .await
            .unwrap();
        assert_eq!(v, row(7));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(region.get::<Row>("k").await.unwrap(), Some(row(7)));
}

/// An expired value is regenerated. Envelopes without a creation time (raw) cannot expire in
/// the region: their expiry belongs to the store, and the value stays served.
pub async fn expire_then_regenerate(f: Fixture) {
    let clock = MockClock::at_system_time();
    let region = expiring(&f, &clock, 10);
    let _: u32 = region.get_or_create("k", || async { ok(1u32) }).await.unwrap();
    clock.advance(Duration::from_secs(11));
    let v: u32 = region.get_or_create("k", || async { ok(2u32) }).await.unwrap();
    if f.codec().envelope().keeps_creation_time() {
        assert_eq!(v, 2, "an expired value must be regenerated");
        assert_eq!(region.get::<u32>("k").await.unwrap(), Some(2));
    } else {
        assert_eq!(v, 1, "a raw entry carries no creation time: the region never expires it");
    }
}

/// `get` treats expired values as missing, honours a per-call expiration time and
/// `ignore_expiration`.
pub async fn get_honours_expiration_options(f: Fixture) {
    if !f.codec().envelope().keeps_creation_time() {
        return;
    }
    let clock = MockClock::at_system_time();
    let region = expiring(&f, &clock, 10);
    region.set("k", &5).await.unwrap();
    clock.advance(Duration::from_secs(6));
    assert_eq!(region.get::<i32>("k").await.unwrap(), Some(5));
    let short = GetOptions::new().expiration_time(Duration::from_secs(5));
    assert_eq!(region.get_with::<i32>("k", short).await.unwrap(), None);
    clock.advance(Duration::from_secs(5));
    assert_eq!(region.get::<i32>("k").await.unwrap(), None);
    assert_eq!(region.get_with::<i32>("k", GetOptions::new().ignore_expiration(true)).await.unwrap(), Some(5));
    assert_eq!(region.get_with::<i32>("k", GetOptions::new().no_expiration()).await.unwrap(), Some(5));
}

/// A `should_cache` that refuses `None` returns every value but stores only the others
/// (dogpile's `test_get_or_create_multi_should_cache_fn`).
pub async fn get_or_create_multi_should_cache_refuses_none(f: Fixture) {
    let region = f.region(|b| b);
    let options = CreateOptions::<Option<String>>::new().should_cache(|v| v.is_some());
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let creator = |keys: Vec<CacheKey>| {
        asked.lock().unwrap().push(keys.clone());
        async move {
            ok(keys
                .iter()
                .map(|k| if k.to_string().starts_with("some") { Some(k.to_string()) } else { None })
                .collect())
        }
    };
    let first: Vec<Option<String>> =
        region.get_or_create_multi_with(["some1", "none1", "some2"], &options, creator).await.unwrap();
    assert_eq!(first, vec![Some("some1".into()), None, Some("some2".into())]);
    assert_eq!(
        region.get_multi::<Option<String>, _>(["some1", "none1", "some2"]).await.unwrap(),
        vec![Some(Some("some1".into())), None, Some(Some("some2".into()))]
    );
    let _: Vec<Option<String>> =
        region.get_or_create_multi_with(["some1", "none1", "some2"], &options, creator).await.unwrap();
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[1], vec![CacheKey::from("none1")], "only the uncached key is created again");
}

/// `get_or_create_multi` asks the creator only for missing keys, sorted, and answers in the
/// caller's order with duplicates.
pub async fn get_or_create_multi_creates_only_missing(f: Fixture) {
    let region = f.region(|b| b);
    region.set("b", &"B".to_string()).await.unwrap();
    let got: Vec<String> = region
        .get_or_create_multi(["c", "b", "a", "c"], |keys: Vec<CacheKey>| async move {
            assert_eq!(keys, vec![CacheKey::from("a"), CacheKey::from("c")]);
            ok(keys.iter().map(|k| k.to_string().to_uppercase()).collect())
        })
        .await
        .unwrap();
    assert_eq!(got, ["C", "B", "A", "C"]);
    let err = region.get_or_create_multi(["x", "y"], |_keys: Vec<CacheKey>| async { ok(vec![1u8]) }).await.unwrap_err();
    assert!(err.is_creator(), "a creator returning too few values is an error: {err}");
    assert!(!region.key_is_locked("x").await.unwrap() && !region.key_is_locked("y").await.unwrap());
}

/// A decorated function is cached per arguments; `invalidate`, `refresh` and `set` act on one
/// argument tuple (dogpile's `test_decorated_fn_functionality`).
pub async fn decorated_function_with_invalidate(f: Fixture) {
    let region = f.region(|b| b);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let add = region.cache_on_arguments("tests:add", move |(a, b): (i64, i64)| {
        let n = counted.fetch_add(1, Ordering::SeqCst) as i64;
        async move { ok(a + b + n * 1000) }
    });
    assert_eq!(add.call((1, 2)).await.unwrap(), 3);
    assert_eq!(add.call((1, 2)).await.unwrap(), 3);
    assert_eq!(add.call((2, 2)).await.unwrap(), 1004);
    assert_eq!(add.key(&(1, 2)), CacheKey::from("tests:add|1 2"));
    add.invalidate(&(1, 2)).await.unwrap();
    assert_eq!(add.get(&(1, 2)).await.unwrap(), None);
    assert_eq!(add.call((1, 2)).await.unwrap(), 2003);
    assert_eq!(add.call((2, 2)).await.unwrap(), 1004, "other arguments keep their value");
    assert_eq!(add.refresh((2, 2)).await.unwrap(), 3004);
    assert_eq!(add.call((2, 2)).await.unwrap(), 3004);
    add.set(&(5, 5), &-1).await.unwrap();
    assert_eq!(add.call((5, 5)).await.unwrap(), -1);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let ns = region.cache_on_arguments("tests:add", |(a,): (i64,)| async move { ok(a) }).namespace("v2");
    assert_eq!(ns.key(&(9,)), CacheKey::from("tests:add|v2|9"));
}

/// A multi-argument function is called once with the missing arguments.
pub async fn decorated_multi_function(f: Fixture) {
    let region = f.region(|b| b);
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&asked);
    let square = region.cache_multi_on_arguments("tests:square", move |args: Vec<u32>| {
        log.lock().unwrap().push(args.clone());
        async move { ok(args.iter().map(|a| a * a).collect::<Vec<u32>>()) }
    });
    assert_eq!(square.call(&[3, 1, 3]).await.unwrap(), [9, 1, 9]);
    assert_eq!(square.call(&[1, 2]).await.unwrap(), [1, 4]);
    assert_eq!(*asked.lock().unwrap(), vec![vec![1, 3], vec![2]]);
    square.invalidate(&[1]).await.unwrap();
    assert_eq!(square.get(&[1, 2]).await.unwrap(), [None, Some(4)]);
    square.set(&[(1, 100)]).await.unwrap();
    assert_eq!(square.call(&[1]).await.unwrap(), [100]);
    assert_eq!(square.refresh(&[1]).await.unwrap(), [1]);
    assert_eq!(square.get(&[1]).await.unwrap(), [Some(1)]);
}

/// A creator's error reaches its caller with the key; the lock is free and nothing stored.
pub async fn creator_error_reaches_caller_and_frees_lock(f: Fixture) {
    let region = f.region(|b| b);
    let err = region.get_or_create::<u32, _, _, _>("k", || async { Err(Boom) }).await.unwrap_err();
    assert!(err.is_creator(), "{err:?}");
    assert_eq!(err.key(), Some(&CacheKey::from("k")));
    assert!(std::error::Error::source(&err).is_some_and(|s| s.to_string() == "boom"));
    assert!(!region.key_is_locked("k").await.unwrap());
    assert_eq!(region.get::<u32>("k").await.unwrap(), None);
    let v: u32 =
        within("get_or_create after a failed creator", region.get_or_create("k", || async { ok(9u32) })).await.unwrap();
    assert_eq!(v, 9);
}

/// Configuring by name leaves the arguments as they were, and ignores keys nobody knows
/// (dogpile's `test_argument_dictionary_unmodified`).
pub async fn arguments_unmodified_and_unknown_keys_ignored(f: Fixture) {
    let Some((name, arguments)) = f.configured_as() else {
        return;
    };
    let mut with_unknown = arguments.clone();
    with_unknown.insert("no_such_argument_anywhere", "x");
    let before = with_unknown.clone();
    let region = Region::builder().configure(name, with_unknown.clone()).codec(f.codec().clone()).build().unwrap();
    assert_eq!(with_unknown, before);
    region.set("k", &1).await.unwrap();
    assert_eq!(region.get::<i32>("k").await.unwrap(), Some(1));
    let by_map: BTreeMap<_, _> = before.iter().map(|(k, v)| (k.to_owned(), format!("{v:?}"))).collect();
    let after: BTreeMap<_, _> = with_unknown.iter().map(|(k, v)| (k.to_owned(), format!("{v:?}"))).collect();
    assert_eq!(by_map, after);
    let _: &Arguments = &with_unknown;
}

/// `key_is_locked` is true only while a creator runs, and never takes the lock.
pub async fn key_is_locked_only_during_creation(f: Fixture) {
    let region = f.region(|b| b);
    assert!(!region.key_is_locked("k").await.unwrap());
    let inner = region.clone();
    let v: bool =
        region.get_or_create("k", || async move { ok(inner.key_is_locked("k").await.unwrap()) }).await.unwrap();
    assert!(v, "the key is locked while its creator runs");
    assert!(!region.key_is_locked("k").await.unwrap());
    // Asking did not take the lock: a creator can still run.
    region.delete("k").await.unwrap();
    let again: bool =
        within("get_or_create after key_is_locked", region.get_or_create("k", || async { ok(false) })).await.unwrap();
    assert!(!again);
}

/// Stored values carry their creation time and the value version.
pub async fn value_metadata(f: Fixture) {
    let clock = MockClock::at_system_time();
    let region = expiring(&f, &clock, 100);
    let created_at = clock.now_secs();
    region.set("k", &"v").await.unwrap();
    let cached = region.get_value_metadata::<String>("k").await.unwrap().expect("value");
    assert_eq!(cached.payload, "v");
    assert_eq!(cached.metadata.v, VALUE_VERSION);
    if f.codec().envelope().keeps_creation_time() {
        assert!((cached.metadata.ct - created_at).abs() < 1.0, "ct {} vs {created_at}", cached.metadata.ct);
    }
    assert_eq!(region.get_value_metadata::<String>("absent").await.unwrap(), None);
}

/// Hard invalidation makes older values misses; newer ones stay.
pub async fn hard_invalidation(f: Fixture) {
    let clock = MockClock::at_system_time();
    let region = expiring(&f, &clock, 1000);
    region.set("old", &1).await.unwrap();
    clock.advance(Duration::from_secs(1));
    region.invalidate(true);
    clock.advance(Duration::from_secs(2));
    region.set("new", &2).await.unwrap();
    if f.codec().envelope().keeps_creation_time() {
        assert_eq!(region.get::<i32>("old").await.unwrap(), None);
        let v: i32 = region.get_or_create("old", || async { ok(10) }).await.unwrap();
        assert_eq!(v, 10, "a hard-invalidated value is regenerated");
    }
    assert_eq!(region.get::<i32>("new").await.unwrap(), Some(2));
}

/// Soft invalidation: one caller regenerates, another concurrent caller gets the old value.
pub async fn soft_invalidation(f: Fixture) {
    if !f.codec().envelope().keeps_creation_time() {
        return;
    }
    let clock = MockClock::at_system_time();
    let region = expiring(&f, &clock, 1000);
    region.set("k", &1).await.unwrap();
    clock.advance(Duration::from_secs(1));
    region.invalidate(false);
    // Values made from here on are newer than the invalidation, even at whole-second
    // resolution (the compact envelope).
    clock.advance(Duration::from_secs(2));
    assert_eq!(region.get::<i32>("k").await.unwrap(), None, "get sees a soft-invalidated value as missing");
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let regen = tokio::spawn({
        let region = region.clone();
        async move {
            region
                .get_or_create("k", || async move {
                    let _ = entered_tx.send(());
                    let _ = release_rx.await;
                    ok(2)
                })
                .await
        }
    });
    within("the regenerating creator to start", entered_rx).await.unwrap();
    let other: i32 = within("a second caller during soft regeneration", region.get_or_create("k", || async { ok(99) }))
        .await
        .unwrap();
    assert_eq!(other, 1, "others get the old value while one regenerates");
    release_tx.send(()).unwrap();
    assert_eq!(within("regeneration", regen).await.unwrap().unwrap(), 2);
    assert_eq!(region.get::<i32>("k").await.unwrap(), Some(2));
}

/// The key mangler rewrites the keys the backend sees.
pub async fn key_mangler(f: Fixture) {
    let region = f.region(|b| b.key_mangler(KeyMangler::sha1()));
    region.set("user:1", &"ada").await.unwrap();
    assert_eq!(region.get::<String>("user:1").await.unwrap().as_deref(), Some("ada"));
    let mangled = CacheKey::from(dogpile::sha1_hex("user:1"));
    assert!(f.backend().get(&mangled).await.unwrap().is_some(), "the backend holds the mangled key");
    assert!(f.backend().get(&"user:1".into()).await.unwrap().is_none());
    let v: u8 = region.get_or_create("user:2", || async { ok(2u8) }).await.unwrap();
    assert_eq!(v, 2);
    assert!(f.backend().get(&dogpile::sha1_hex("user:2").into()).await.unwrap().is_some());
}

/// A creator may call `get_or_create` on another key.
pub async fn reentrant_get_or_create_on_another_key(f: Fixture) {
    let region = f.region(|b| b);
    let inner = region.clone();
    let v: u32 = within(
        "nested get_or_create",
        region.get_or_create("outer", || async move {
            let x: u32 = inner.get_or_create("inner", || async { ok(20u32) }).await.unwrap();
            ok(x + 1)
        }),
    )
    .await
    .unwrap();
    assert_eq!(v, 21);
    assert_eq!(region.get::<u32>("inner").await.unwrap(), Some(20));
}

/// Bytes that do not decode are a miss (and regenerated), or an error naming the key when
/// the region asks for that.
pub async fn undecodable_bytes(f: Fixture) {
    let region = f.region(|b| b);
    f.backend().set(&"bad".into(), Bytes::from_static(b"\xc1\xff\x00 not a value")).await.unwrap();
    assert_eq!(region.get::<Row>("bad").await.unwrap(), None);
    let v: Row = region.get_or_create("bad", || async { ok(row(3)) }).await.unwrap();
    assert_eq!(v, row(3));
    f.backend().set(&"bad".into(), Bytes::from_static(b"\xc1\xff\x00 not a value")).await.unwrap();
    let strict = f.region(|b| b.on_decode_error(DecodeErrorPolicy::Error));
    let err = strict.get::<Row>("bad").await.unwrap_err();
    assert!(err.is_codec(), "{err:?}");
    assert_eq!(err.key(), Some(&CacheKey::from("bad")));
    assert!(matches!(err, Error::Codec { .. }));
}

trait NowSecs {
    fn now_secs(&self) -> f64;
}

impl NowSecs for MockClock {
    fn now_secs(&self) -> f64 {
        dogpile::Clock::now(self)
    }
}
