//! The blocking facade.

use std::time::Duration;

use dogpile::CacheKey;
use dogpile::blocking::Region;

#[test]
fn get_or_create_runs_the_creator_on_the_calling_thread() {
    let region = Region::builder().with_inner(|b| b.expiration_time(Duration::from_secs(60))).build().unwrap();
    let caller = std::thread::current().id();
    let v: String = region
        .get_or_create("k", || {
            assert_eq!(std::thread::current().id(), caller);
            Ok::<_, std::io::Error>("v".to_string())
        })
        .unwrap();
    assert_eq!(v, "v");
    assert_eq!(region.get::<String>("k").unwrap().as_deref(), Some("v"));
    region.delete("k").unwrap();
    assert_eq!(region.get::<String>("k").unwrap(), None);
}

#[test]
fn multi_operations_and_errors() {
    let region = Region::builder().build().unwrap();
    region.set_multi([("a", 1), ("b", 2)]).unwrap();
    assert_eq!(region.get_multi::<i32, _>(["b", "x", "a"]).unwrap(), vec![Some(2), None, Some(1)]);
    let got: Vec<i32> = region
        .get_or_create_multi(["a", "c"], |keys: Vec<CacheKey>| Ok::<_, std::io::Error>(vec![3; keys.len()]))
        .unwrap();
    assert_eq!(got, [1, 3]);
    let err = region.get_or_create::<i32, _>("z", || Err(std::io::Error::other("db down"))).unwrap_err();
    assert!(err.is_creator() && err.to_string().contains("db down"), "{err}");
    assert!(!region.key_is_locked("z").unwrap());
    region.delete_multi(["a", "b", "c"]).unwrap();
    assert_eq!(region.get_multi::<i32, _>(["a", "b", "c"]).unwrap(), vec![None, None, None]);
}

#[test]
fn threads_share_one_region_and_one_creation() {
    let region = Region::builder().build().unwrap();
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (region, runs) = (region.clone(), runs.clone());
            std::thread::spawn(move || {
                region
                    .get_or_create("shared", || {
                        runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(50));
                        Ok::<_, std::io::Error>(1u8)
                    })
                    .unwrap()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 1);
    }
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn dropping_a_blocking_region_inside_a_runtime_is_fine() {
    let region = std::thread::spawn(|| Region::builder().build().unwrap()).join().unwrap();
    drop(region);
}

/// dogpile's `test_cache_arg`, `test_explicit_refresh`, `test_explicit_set` and
/// `test_original_fn_set` on plain functions: the function runs on the calling thread.
#[test]
fn cached_plain_functions_single_and_multi() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    let region = Region::builder().build().unwrap();
    let counter = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&counter);
    let caller = std::thread::current().id();
    let generate = region.cache_on_arguments("tests:generate", move |(x, y): (u32, u32)| {
        assert_eq!(std::thread::current().id(), caller, "runs on the caller's thread");
        Ok::<_, std::io::Error>(counted.fetch_add(1, Ordering::SeqCst) + 1 + x + y)
    });
    assert_eq!(generate.call((1, 2)).unwrap(), 4);
    assert_eq!(generate.call((2, 1)).unwrap(), 5);
    assert_eq!(generate.call((1, 2)).unwrap(), 4);
    generate.invalidate(&(1, 2)).unwrap();
    assert_eq!(generate.call((1, 2)).unwrap(), 6);
    assert_eq!(generate.refresh((1, 2)).unwrap(), 7);
    assert_eq!(generate.get(&(1, 2)).unwrap(), Some(7));
    generate.set(&(1, 2), &100).unwrap();
    assert_eq!(generate.call((1, 2)).unwrap(), 100);
    assert_eq!((generate.original())((0, 0)).unwrap(), 5, "the original is not cached");
    assert_eq!(generate.key(&(1, 2)), CacheKey::from("tests:generate|1 2"));

    let own = region
        .cache_on_arguments("tests:own", |(x,): (u32,)| Ok::<_, std::io::Error>(x))
        .key_generator(|(x,): &(u32,)| format!("own_{x}").into())
        .expiration_time_fn(|| Some(-1.0));
    assert_eq!(own.call((3,)).unwrap(), 3);
    assert_eq!(region.get::<u32>("own_3").unwrap(), Some(3));

    let batches = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&batches);
    let multi = region.cache_multi_on_arguments("tests:multi", move |args: Vec<u32>| {
        let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
        Ok::<_, std::io::Error>(args.iter().map(|a| format!("{a} {n}")).collect::<Vec<_>>())
    });
    assert_eq!(multi.call(&[2, 8, 10]).unwrap(), ["2 1", "8 1", "10 1"]);
    assert_eq!(multi.call(&[2, 9, 10]).unwrap(), ["2 1", "9 2", "10 1"]);
    multi.invalidate(&[2]).unwrap();
    assert_eq!(multi.get(&[2, 9]).unwrap(), [None, Some("9 2".to_owned())]);
    multi.set(&[(7, "18".to_owned())]).unwrap();
    assert_eq!(multi.call(&[2, 7]).unwrap(), ["2 3", "18"]);
    assert_eq!(multi.refresh(&[7]).unwrap(), ["7 4"]);
    assert_eq!(batches.load(Ordering::SeqCst), 4);
}
