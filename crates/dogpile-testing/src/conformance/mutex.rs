//! The dogpile mutex as the region uses it (dogpile's `_GenericMutexTestSuite`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{Boom, within};
use crate::Fixture;

/// Creators of one key never overlap, across many tasks.
pub async fn exclusion_across_tasks(f: Fixture) {
    let region = f.region(|b| b);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..8u32 {
        let (region, in_flight, most, runs) = (region.clone(), in_flight.clone(), most.clone(), runs.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..20u32 {
                region.delete("k").await.unwrap();
                let (in_flight, most, runs) = (in_flight.clone(), most.clone(), runs.clone());
                let _: u32 = region
                    .get_or_create("k", || async move {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, Boom>(t * 100 + i)
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        within("tasks racing on one key", task).await.unwrap();
    }
    assert_eq!(most.load(Ordering::SeqCst), 1, "two creators of one key ran at once");
    assert!(runs.load(Ordering::SeqCst) >= 1);
}

/// Each key has its own lock: a slow creator on one key does not hold up another key.
pub async fn independent_locks_per_key(f: Fixture) {
    let region = f.region(|b| b);
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let slow = tokio::spawn({
        let region = region.clone();
        async move {
            region
                .get_or_create("slow", || async move {
                    let _ = entered_tx.send(());
                    let _ = release_rx.await;
                    Ok::<_, Boom>(1u8)
                })
                .await
        }
    });
    within("the slow creator to start", entered_rx).await.unwrap();
    assert!(region.key_is_locked("slow").await.unwrap());
    assert!(!region.key_is_locked("fast").await.unwrap());
    let fast: u8 =
        within("another key while one is locked", region.get_or_create("fast", || async { Ok::<_, Boom>(2u8) }))
            .await
            .unwrap();
    assert_eq!(fast, 2);
    release_tx.send(()).unwrap();
    assert_eq!(within("the slow creator", slow).await.unwrap().unwrap(), 1);
}

/// A backend's own mutex, if it offers one: exclusive, observable, released.
pub async fn backend_mutex_semantics(f: Fixture) {
    let backend = f.backend();
    let key = dogpile::CacheKey::from("mutex-key");
    let Some(first) = backend.get_mutex(&key) else {
        assert!(!backend.capabilities().distributed_lock, "distributed_lock is set but get_mutex gives nothing");
        return;
    };
    let second = backend.get_mutex(&key).expect("a second handle on the same mutex");
    assert!(first.acquire(false).await.unwrap());
    assert!(!second.acquire(false).await.unwrap(), "a held mutex cannot be taken again");
    assert!(second.locked().await.unwrap());
    first.release().await.unwrap();
    assert!(!second.locked().await.unwrap());
    assert!(second.acquire(false).await.unwrap());
    second.release().await.unwrap();
}
