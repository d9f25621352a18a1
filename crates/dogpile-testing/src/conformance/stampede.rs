//! Stampede protection: many concurrent callers, one creator run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dogpile::{CacheKey, MockClock};
use tokio::sync::{Semaphore, mpsc};

use super::{Boom, within};
use crate::Fixture;

/// How many callers each stampede test sends at one key.
pub const CALLERS: usize = 200;

/// 200 concurrent callers on a missing key: the creator runs once, everyone gets its value.
pub async fn missing_key_creator_once(f: Fixture) {
    let region = f.region(|b| b);
    let runs = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(CALLERS));
    let mut tasks = Vec::new();
    for _ in 0..CALLERS {
        let (region, runs, start) = (region.clone(), runs.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            region
                .get_or_create("hot", || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, Boom>("fresh".to_string())
                })
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        assert_eq!(within("a stampeding caller", task).await.unwrap(), "fresh");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the creator must run exactly once");
}

/// 200 concurrent callers on an expired key: the creator runs once, and every other caller
/// gets the stale value without waiting for it (the creator is held until all 199 answered).
pub async fn expired_key_stale_without_waiting(f: Fixture) {
    if !f.codec().envelope().keeps_creation_time() {
        return;
    }
    let clock = MockClock::at_system_time();
    let region = f.region(|b| b.clock(clock.clone()).expiration_time(Duration::from_secs(10)));
    region.set("hot", &"old").await.unwrap();
    clock.advance(Duration::from_secs(11));

    let runs = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Semaphore::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel();
    for _ in 0..CALLERS {
        let (region, runs, release, tx) = (region.clone(), runs.clone(), release.clone(), tx.clone());
        tokio::spawn(async move {
            let got = region
                .get_or_create("hot", || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let _permit = release.acquire().await;
                    Ok::<_, Boom>("new".to_string())
                })
                .await
                .unwrap();
            let _ = tx.send(got);
        });
    }
    for _ in 0..CALLERS - 1 {
        let got = within("stale answers while the creator is held", rx.recv()).await.unwrap();
        assert_eq!(got, "old", "callers other than the creator get the stale value");
    }
    // The creator may still be taking a distributed lock here, so it may not have started;
    // it cannot have finished, since it waits for the release below.
    assert!(runs.load(Ordering::SeqCst) <= 1);
    release.add_permits(1);
    assert_eq!(within("the creator's own answer", rx.recv()).await.unwrap(), "new");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the creator must run exactly once");
    assert_eq!(region.get::<String>("hot").await.unwrap().as_deref(), Some("new"));
}

fn keys() -> Vec<CacheKey> {
    (1..=5).map(|i| CacheKey::from(format!("multi{i}"))).collect()
}

/// 200 concurrent `get_or_create_multi` calls on missing keys: one creator call.
pub async fn multi_missing_keys_creator_once(f: Fixture) {
    let region = f.region(|b| b);
    let runs = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(CALLERS));
    let mut tasks = Vec::new();
    for _ in 0..CALLERS {
        let (region, runs, start) = (region.clone(), runs.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            region
                .get_or_create_multi(keys(), |missing: Vec<CacheKey>| async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, Boom>(missing.iter().map(|k| format!("v-{k}")).collect::<Vec<_>>())
                })
                .await
                .unwrap()
        }));
    }
    let expected: Vec<String> = keys().iter().map(|k| format!("v-{k}")).collect();
    for task in tasks {
        assert_eq!(within("a stampeding multi caller", task).await.unwrap(), expected);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the multi creator must run exactly once");
}

/// 200 concurrent `get_or_create_multi` calls on expired keys: one creator call, and every
/// other caller gets the stale values without waiting.
pub async fn multi_expired_keys_stale_without_waiting(f: Fixture) {
    if !f.codec().envelope().keeps_creation_time() {
        return;
    }
    let clock = MockClock::at_system_time();
    let region = f.region(|b| b.clock(clock.clone()).expiration_time(Duration::from_secs(10)));
    region.set_multi(keys().into_iter().map(|k| (k, "old".to_string()))).await.unwrap();
    clock.advance(Duration::from_secs(11));

    let runs = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Semaphore::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel();
    for _ in 0..CALLERS {
        let (region, runs, release, tx) = (region.clone(), runs.clone(), release.clone(), tx.clone());
        tokio::spawn(async move {
            let got = region
                .get_or_create_multi(keys(), |missing: Vec<CacheKey>| async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let _permit = release.acquire().await;
                    Ok::<_, Boom>(missing.iter().map(|_| "new".to_string()).collect::<Vec<_>>())
                })
                .await
                .unwrap();
            let _ = tx.send(got);
        });
    }
    for _ in 0..CALLERS - 1 {
        let got = within("stale multi answers while the creator is held", rx.recv()).await.unwrap();
        assert_eq!(got, vec!["old"; 5]);
    }
    release.add_permits(1);
    assert_eq!(within("the multi creator's answer", rx.recv()).await.unwrap(), vec!["new"; 5]);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the multi creator must run exactly once");
}
