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
