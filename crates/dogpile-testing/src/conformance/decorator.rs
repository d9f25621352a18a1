//! Function caching over a backend: dogpile's `test_decorator.py` scenarios (the expiration
//! callable, key generators, `asdict`, `original`) and regeneration in the background.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dogpile::codec::Codec;
use dogpile::region::{CreateOptions, FunctionKey};
use dogpile::{CacheKey, MockClock, Region};

use super::{Boom, within};
use crate::Fixture;

/// The arguments of the fixture's `go`.
type Pair = (u32, u32);

/// What the fixtures' functions answer.
type Answer<T> = std::future::Ready<Result<T, Boom>>;

fn ok<T>(value: T) -> Result<T, Boom> {
    Ok(value)
}

/// A region whose values expire after 0.25 s of a mock clock, as dogpile's decorator fixture.
fn quarter_second(f: &Fixture, clock: &MockClock) -> Region {
    timed(f, clock, Duration::from_millis(250))
}

/// A region whose values expire after `expiration` of a mock clock; in the default codec when
/// the fixture's envelope keeps no creation time (with one, the region never expires values).
fn timed(f: &Fixture, clock: &MockClock, expiration: Duration) -> Region {
    let clock = clock.clone();
    let timed = f.codec().envelope().keeps_creation_time();
    f.region(|b| {
        let b = b.clock(clock).expiration_time(expiration);
        if timed { b } else { b.codec(Codec::default()) }
    })
}

/// The fixture's `go(a, b)`: returns `(n, a, b)`, `n` counting its calls in `calls`.
fn counter(calls: &Arc<AtomicU32>) -> impl Fn(Pair) -> Answer<(u32, u32, u32)> + Send + Sync + 'static {
    let counted = Arc::clone(calls);
    move |(a, b): Pair| std::future::ready(ok((counted.fetch_add(1, Ordering::SeqCst) + 1, a, b)))
}

/// `test_decorator_expire_callable`: the function's expiration time is asked at each call.
pub async fn expiration_time_callable(f: Fixture) {
    let clock = MockClock::new(1_000.0);
    let region = quarter_second(&f, &clock);
    let asked = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&asked);
    let go = counter(&Arc::default());
    let go = region.cache_on_arguments("tests:go", go).expiration_time_fn(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        Some(0.5)
    });
    assert_eq!(go.call((1, 2)).await.unwrap(), (1, 1, 2));
    assert_eq!(go.call((3, 4)).await.unwrap(), (2, 3, 4));
    assert_eq!(go.call((1, 2)).await.unwrap(), (1, 1, 2));
    clock.advance(Duration::from_millis(300));
    assert_eq!(go.call((1, 2)).await.unwrap(), (1, 1, 2), "0.5 s, not the region's 0.25 s");
    clock.advance(Duration::from_millis(300));
    assert_eq!(go.call((1, 2)).await.unwrap(), (3, 1, 2));
    assert_eq!(asked.load(Ordering::SeqCst), 5, "asked at every call");
}

/// `test_decorator_expire_callable_zero`, and dogpile's other numbers: zero (or any negative
/// but -1) regenerates at every call, -1 never expires, `None` is the region's time.
pub async fn expiration_time_callable_zero_negative_and_none(f: Fixture) {
    let clock = MockClock::new(1_000.0);
    let region = quarter_second(&f, &clock);
    let go = counter(&Arc::default());
    let zero = region.cache_on_arguments("tests:zero", go).expiration_time_fn(|| Some(0.0));
    assert_eq!(zero.call((1, 2)).await.unwrap(), (1, 1, 2));
    clock.advance(Duration::from_millis(1));
    assert_eq!(zero.call((1, 2)).await.unwrap(), (2, 1, 2));
    clock.advance(Duration::from_millis(1));
    assert_eq!(zero.call((1, 2)).await.unwrap(), (3, 1, 2));

    let go = counter(&Arc::default());
    let negative = region.cache_on_arguments("tests:negative", go).expiration_time_fn(|| Some(-5.0));
    assert_eq!(negative.call((1, 2)).await.unwrap(), (1, 1, 2));
    assert_eq!(negative.call((1, 2)).await.unwrap(), (2, 1, 2), "expired at once, without the clock moving");

    let go = counter(&Arc::default());
    let never = region.cache_on_arguments("tests:never", go).expiration_time_fn(|| Some(-1.0));
    assert_eq!(never.call((1, 2)).await.unwrap(), (1, 1, 2));
    clock.advance(Duration::from_secs(3_600));
    assert_eq!(never.call((1, 2)).await.unwrap(), (1, 1, 2), "-1: never expires");

    let go = counter(&Arc::default());
    let default = region.cache_on_arguments("tests:default", go).expiration_time_fn(|| None);
    assert_eq!(default.call((1, 2)).await.unwrap(), (1, 1, 2));
    clock.advance(Duration::from_millis(300));
    assert_eq!(default.call((1, 2)).await.unwrap(), (2, 1, 2), "None: the region's 0.25 s");

    // The multi wrapper asks too.
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let multi = region
        .cache_multi_on_arguments("tests:multi", move |args: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            std::future::ready(ok(args))
        })
        .expiration_time_fn(|| Some(-1.0));
    assert_eq!(multi.call(&[1, 2]).await.unwrap(), [1, 2]);
    clock.advance(Duration::from_secs(3_600));
    assert_eq!(multi.call(&[1, 2]).await.unwrap(), [1, 2]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// `test_decorator_key_generator`: a function's own key generator, from its first argument.
pub async fn function_key_generator(f: Fixture) {
    let clock = MockClock::new(1_000.0);
    let region = quarter_second(&f, &clock);
    let go = counter(&Arc::default());
    let go = region.cache_on_arguments("tests:go", go).key_generator(|(a, _): &(u32, u32)| format!("go_{a}").into());
    assert_eq!(go.call((1, 2)).await.unwrap(), (1, 1, 2));
    assert_eq!(go.call((3, 4)).await.unwrap(), (2, 3, 4));
    assert_eq!(go.call((1, 3)).await.unwrap(), (1, 1, 2), "the same key as (1, 2)");
    assert_eq!(region.get::<(u32, u32, u32)>("go_1").await.unwrap(), Some((1, 1, 2)));
    clock.advance(Duration::from_millis(300));
    assert_eq!(go.call((1, 3)).await.unwrap(), (3, 1, 3));
}

/// `test_decorator_key_generator_multi`, and the region's generators for both wrappers
/// (dogpile's `function_key_generator` and `function_multi_key_generator` of `make_region`).
pub async fn region_and_multi_key_generators(f: Fixture) {
    let region = f.region(|b| {
        b.function_key_generator(|k: &FunctionKey<'_>| format!("one:{}", k.dogpile_key()).into())
            .function_multi_key_generator(|k: &FunctionKey<'_>| {
                format!("many:{}:{}:{}", k.name, k.namespace.unwrap_or("-"), k.args).into()
            })
    });
    let single = region.cache_on_arguments("tests:f", |(a, b): (u32, u32)| std::future::ready(ok(a + b)));
    assert_eq!(single.call((1, 2)).await.unwrap(), 3);
    assert_eq!(region.get::<u32>("one:tests:f|1 2").await.unwrap(), Some(3));
    let spaced = region.cache_on_arguments("tests:f", |(a,): (u32,)| std::future::ready(ok(a))).namespace("ns");
    assert_eq!(spaced.key(&(7,)), CacheKey::from("one:tests:f|ns|7"));

    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let multi = region.cache_multi_on_arguments("tests:m", move |args: Vec<u32>| {
        let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
        std::future::ready(ok(args.iter().map(|a| format!("{n} {a}")).collect::<Vec<_>>()))
    });
    assert_eq!(multi.call(&[1, 2]).await.unwrap(), ["1 1", "1 2"]);
    assert_eq!(region.get::<String>("many:tests:m:-:2").await.unwrap().as_deref(), Some("1 2"));
    // The function's own generator wins over the region's.
    let own = region
        .cache_multi_on_arguments("tests:m", |args: Vec<u32>| std::future::ready(ok(args)))
        .key_generator(|a: &u32| format!("own_{a}").into());
    assert_eq!(own.get(&[3, 1]).await.unwrap(), [None, None]);
    assert_eq!(own.call(&[3, 1]).await.unwrap(), [3, 1]);
    assert_eq!(region.get::<u32>("own_3").await.unwrap(), Some(3));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// dogpile's `function_multi_key_generator` of the decorator: the keys of a call made from
/// its whole argument list, so a key may depend on the other arguments; every operation of
/// both multi wrappers takes its keys from it, and a generator that makes another number of
/// keys than there are arguments is a configuration error, not a wrong key.
pub async fn multi_key_generator_over_the_argument_list(f: Fixture) {
    let region = f.region(|b| b);
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let by_count = |args: &[u32]| args.iter().map(|a| CacheKey::from(format!("of{}:{a}", args.len()))).collect();
    let multi = region
        .cache_multi_on_arguments("tests:m", move |args: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            std::future::ready(ok(args.iter().map(|a| a * 10).collect::<Vec<_>>()))
        })
        .keys_generator(by_count);
    assert_eq!(multi.call(&[1, 2]).await.unwrap(), [10, 20]);
    assert_eq!(region.get::<u32>("of2:1").await.unwrap(), Some(10));
    assert_eq!(multi.call(&[2, 1]).await.unwrap(), [20, 10]);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the same keys for the same list");
    assert_eq!(multi.get(&[1]).await.unwrap(), [None], "alone, 1 has another key");
    multi.set(&[(5, 50), (6, 60)]).await.unwrap();
    assert_eq!(region.get::<u32>("of2:6").await.unwrap(), Some(60));
    multi.invalidate(&[1, 2]).await.unwrap();
    assert_eq!(region.get::<u32>("of2:1").await.unwrap(), None);
    assert_eq!(multi.key(&7), CacheKey::from("of1:7"));

    let short = region
        .cache_multi_on_arguments("tests:short", |args: Vec<u32>| std::future::ready(ok(args)))
        .keys_generator(|args: &[u32]| args.iter().skip(1).map(|a| CacheKey::from(a.to_string())).collect());
    let err = short.call(&[1, 2]).await.unwrap_err();
    assert!(matches!(err, dogpile::Error::Config { .. }) && err.to_string().contains("1 keys for 2"), "{err}");

    let dict = region
        .cache_multi_on_arguments_asdict("tests:d", |args: Vec<u32>| {
            std::future::ready(ok(args.iter().map(|&a| (a, a + 1)).collect::<HashMap<u32, u32>>()))
        })
        .keys_generator(|args: &[u32]| args.iter().map(|a| CacheKey::from(format!("d{}:{a}", args.len()))).collect());
    assert_eq!(dict.call(&[3, 4]).await.unwrap(), HashMap::from([(3, 4), (4, 5)]));
    assert_eq!(region.get::<u32>("d2:4").await.unwrap(), Some(5));
}

/// `test_original_fn_set`: the function as given, which does not cache.
pub async fn original_function(f: Fixture) {
    let region = f.region(|b| b);
    let calls = Arc::default();
    let go = counter(&calls);
    let go = region.cache_on_arguments("tests:go", go);
    assert_eq!(go.call((1, 2)).await.unwrap(), (1, 1, 2));
    assert_eq!((go.original())((1, 2)).await.unwrap(), (2, 1, 2));
    assert_eq!(go.call((1, 2)).await.unwrap(), (1, 1, 2), "the original's result was not stored");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let multi = region.cache_multi_on_arguments("tests:m", |args: Vec<u32>| std::future::ready(ok(args)));
    assert_eq!((multi.original())(vec![4]).await.unwrap(), [4]);
    assert_eq!(multi.get(&[4]).await.unwrap(), [None]);
}

/// A function over many arguments answering a map: counts `n` per call, as dogpile's fixture.
fn dict_fixture(skip: Option<u32>) -> impl Fn(Vec<u32>) -> Answer<HashMap<u32, String>> + Send + Sync + 'static {
    let counter = Arc::new(AtomicU32::new(0));
    move |args: Vec<u32>| {
        let found = args
            .into_iter()
            .filter(|a| Some(*a) != skip)
            .map(|a| (a, format!("{a} {}", counter.fetch_add(1, Ordering::SeqCst) + 1)))
            .collect();
        std::future::ready(ok(found))
    }
}

fn dict(pairs: &[(u32, &str)]) -> HashMap<u32, String> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

/// `test_multi_asdict`: the function answers a map, and so does the wrapper. dogpile asks
/// the missing arguments in the order of their keys' text (`|10` before `|2`), as here.
pub async fn multi_asdict(f: Fixture) {
    let region = f.region(|b| b);
    let generate = region.cache_multi_on_arguments_asdict("tests:generate", dict_fixture(None));
    assert_eq!(generate.call(&[2, 8, 10]).await.unwrap(), dict(&[(2, "2 2"), (8, "8 3"), (10, "10 1")]));
    assert_eq!(generate.call(&[2, 9, 10]).await.unwrap(), dict(&[(2, "2 2"), (9, "9 4"), (10, "10 1")]));
    generate.invalidate(&[2]).await.unwrap();
    assert_eq!(generate.call(&[2, 7, 10]).await.unwrap(), dict(&[(2, "2 5"), (7, "7 6"), (10, "10 1")]));
    generate.set(&dict(&[(7, "18"), (10, "15")])).await.unwrap();
    assert_eq!(generate.call(&[2, 7, 10]).await.unwrap(), dict(&[(2, "2 5"), (7, "18"), (10, "15")]));
    assert_eq!(generate.refresh(&[2, 7]).await.unwrap(), dict(&[(2, "2 7"), (7, "7 8")]));
    assert_eq!(generate.call(&[2, 7, 10]).await.unwrap(), dict(&[(2, "2 7"), (10, "15"), (7, "7 8")]));
    assert_eq!(generate.get(&[2, 3]).await.unwrap(), dict(&[(2, "2 7")]));
}

/// `test_multi_asdict_keys_missing`: an argument the map leaves out is neither answered nor
/// cached.
pub async fn multi_asdict_keys_missing(f: Fixture) {
    let region = f.region(|b| b);
    let generate = region.cache_multi_on_arguments_asdict("tests:generate", dict_fixture(Some(10)));
    assert_eq!(generate.call(&[2, 8, 10]).await.unwrap(), dict(&[(2, "2 1"), (8, "8 2")]));
    assert_eq!(generate.call(&[2, 9, 10]).await.unwrap(), dict(&[(2, "2 1"), (9, "9 3")]));
    assert_eq!(region.get::<String>(generate.key(&10)).await.unwrap(), None);
    generate.invalidate(&[2]).await.unwrap();
    assert_eq!(generate.call(&[2, 7, 10]).await.unwrap(), dict(&[(2, "2 4"), (7, "7 5")]));
    generate.set(&dict(&[(7, "18"), (10, "15")])).await.unwrap();
    assert_eq!(generate.call(&[2, 7, 10]).await.unwrap(), dict(&[(2, "2 4"), (7, "18"), (10, "15")]));
}

/// `test_multi_asdict_keys_missing_existing_cache_fn`: the caller's `should_cache` still
/// applies to the answers.
pub async fn multi_asdict_keys_missing_with_should_cache(f: Fixture) {
    let region = f.region(|b| b);
    let generate = region
        .cache_multi_on_arguments_asdict("tests:generate", dict_fixture(Some(10)))
        .options(CreateOptions::new().should_cache(|v: &String| !v.starts_with("8 ")));
    assert_eq!(generate.call(&[2, 8, 10]).await.unwrap(), dict(&[(2, "2 1"), (8, "8 2")]));
    assert_eq!(generate.call(&[2, 8, 10]).await.unwrap(), dict(&[(2, "2 1"), (8, "8 3")]));
    assert_eq!(generate.call(&[2, 8, 10]).await.unwrap(), dict(&[(2, "2 1"), (8, "8 4")]));
    assert_eq!(generate.call(&[2, 9, 10]).await.unwrap(), dict(&[(2, "2 1"), (9, "9 5")]));
    assert_eq!(region.get::<String>(generate.key(&10)).await.unwrap(), None);
    generate.invalidate(&[2]).await.unwrap();
    assert_eq!(generate.call(&[2, 7, 10]).await.unwrap(), dict(&[(2, "2 6"), (7, "7 7")]));
    generate.set(&dict(&[(7, "18"), (10, "15")])).await.unwrap();
    assert_eq!(generate.call(&[2, 7, 10]).await.unwrap(), dict(&[(2, "2 6"), (7, "18"), (10, "15")]));
}

/// A cached function regenerates in the background: an expired result is returned at once,
/// and the new one is stored by a spawned task (single and multi).
pub async fn regeneration_in_the_background(f: Fixture) {
    let clock = MockClock::new(1_000.0);
    let region = timed(&f, &clock, Duration::from_secs(1));
    let calls = Arc::default();
    let go = counter(&calls);
    let go = region.cache_on_arguments("tests:go", go);
    assert_eq!(go.call_in_background((1, 2)).await.unwrap(), (1, 1, 2), "no value: the caller creates it");
    clock.advance(Duration::from_secs(2));
    assert_eq!(go.call_in_background((1, 2)).await.unwrap(), (1, 1, 2), "expired: served at once");
    within("the background regeneration", async {
        while go.get(&(1, 2)).await.unwrap() != Some((2, 1, 2)) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let batches = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&batches);
    let multi = region.cache_multi_on_arguments("tests:m", move |args: Vec<u32>| {
        let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
        std::future::ready(ok(args.iter().map(|a| a * 10 + n).collect::<Vec<u32>>()))
    });
    assert_eq!(multi.call_in_background(&[1, 2]).await.unwrap(), [11, 21]);
    clock.advance(Duration::from_secs(2));
    assert_eq!(multi.call_in_background(&[1, 2]).await.unwrap(), [11, 21], "expired: served at once");
    within("the background batch", async {
        while multi.get(&[1, 2]).await.unwrap() != [Some(12), Some(22)] {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(batches.load(Ordering::SeqCst), 2);

    // The `asdict` form, an argument left out included.
    let generate = region.cache_multi_on_arguments_asdict("tests:generate", dict_fixture(Some(10)));
    assert_eq!(generate.call_in_background(&[2, 10]).await.unwrap(), dict(&[(2, "2 1")]));
    clock.advance(Duration::from_secs(2));
    assert_eq!(generate.call_in_background(&[2]).await.unwrap(), dict(&[(2, "2 1")]), "expired: served at once");
    within("the background answers", async {
        while generate.get(&[2]).await.unwrap() != dict(&[(2, "2 2")]) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(generate.get(&[10]).await.unwrap(), dict(&[]), "left out: never stored");
}
