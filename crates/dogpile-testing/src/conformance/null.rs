//! The null backend's own expectations (dogpile's `test_null_backend`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dogpile::CacheKey;

use super::Boom;
use crate::Fixture;

/// Everything written is forgotten.
pub async fn stores_nothing(f: Fixture) {
    let region = f.region(|b| b);
    region.set("k", &1).await.unwrap();
    region.set_multi([("a", 1), ("b", 2)]).await.unwrap();
    assert_eq!(region.get::<i32>("k").await.unwrap(), None);
    assert_eq!(region.get_multi::<i32, _>(["a", "b"]).await.unwrap(), vec![None, None]);
    region.delete("k").await.unwrap();
    region.delete_multi(["a", "b"]).await.unwrap();
    assert!(!f.backend().capabilities().stores_values);
}

/// Every `get_or_create` calls the creator.
pub async fn creator_called_every_time(f: Fixture) {
    let region = f.region(|b| b);
    let calls = AtomicUsize::new(0);
    for i in 1..=3 {
        let v: usize = region
            .get_or_create("k", || async { Ok::<_, Boom>(calls.fetch_add(1, Ordering::SeqCst) + 1) })
            .await
            .unwrap();
        assert_eq!(v, i);
    }
    let multi: Vec<u8> = region
        .get_or_create_multi(["a", "b"], |keys: Vec<CacheKey>| async move { Ok::<_, Boom>(vec![1; keys.len()]) })
        .await
        .unwrap();
    assert_eq!(multi, [1, 1]);
}

/// A decorated function runs on every call.
pub async fn decorated_function_called_every_time(f: Fixture) {
    let region = f.region(|b| b);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let func = region.cache_on_arguments("tests:null", move |(x,): (u32,)| {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, Boom>(x + n as u32) }
    });
    assert_eq!(func.call((10,)).await.unwrap(), 10);
    assert_eq!(func.call((10,)).await.unwrap(), 11);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// The null mutex is always free.
pub async fn mutex_always_acquires(f: Fixture) {
    let mutex = f.backend().get_mutex(&"k".into()).expect("the null backend offers a mutex");
    assert!(mutex.acquire(false).await.unwrap());
    assert!(mutex.acquire(false).await.unwrap());
    assert!(!mutex.locked().await.unwrap());
    mutex.release().await.unwrap();
}
