//! The in-process mutex under a model checker: shuttle runs the tasks of each scenario through
//! the mutex's steps in every interleaving (by hand) or in 20,000 chosen ones (the suite), and
//! fails on a panic or on a deadlock (every task waiting: a lost wake-up).
//!
//! The mutex's [`switch_point`](super::switch_point)s are where shuttle may run another task:
//! between taking the table's entry, the permit, the release signal and the left value. The
//! tokio semaphore and notify under them are used as they are; each of their operations runs
//! whole between two switch points, as it does under its own lock.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use shuttle::future::{block_on, spawn};
use shuttle::scheduler::{DfsScheduler, RandomScheduler};
use shuttle::{Config, Runner};

use super::LocalMutexMap;
use crate::key::CacheKey;

thread_local! {
    /// Whether this thread runs a model (shuttle runs every task of a model on the thread
    /// that started it).
    static MODEL: Cell<bool> = const { Cell::new(false) };
}

pub(super) fn switch_point() {
    if MODEL.with(Cell::get) {
        shuttle::thread::yield_now();
    }
}

/// Runs `scenario` under the model checker, and gives the number of schedules run.
///
/// By default (the suite), 20,000 schedules chosen by PCT, shuttle's randomized scheduler
/// with a probabilistic guarantee for bugs of a small depth, from a fixed seed: seconds per
/// scenario. With `DOGPILE_MODEL_DFS=1`, every interleaving, depth first (minutes per
/// scenario; run by hand, see the README's Testing section).
fn explore(scenario: impl Fn() + Send + Sync + 'static) -> usize {
    MODEL.with(|model| model.set(true));
    let runs = if std::env::var_os("DOGPILE_MODEL_DFS").is_some() {
        Runner::new(DfsScheduler::new(None, false), Config::default()).run(scenario)
    } else {
        Runner::new(RandomScheduler::new_from_seed(0x5EED, 20_000), Config::default()).run(scenario)
    };
    MODEL.with(|model| model.set(false));
    eprintln!("{runs} schedules");
    runs
}

fn key() -> CacheKey {
    CacheKey::from("k")
}

/// A holder leaves a value and lets go while two tasks wait for the release: each waiter
/// wakes (none is left behind), and one that waited gets the value the holder left.
#[test]
fn every_waiter_wakes_when_the_holder_lets_go_and_gets_its_value() {
    let runs = explore(|| {
        block_on(async {
            let map = LocalMutexMap::new();
            let holder = map.entry(&key()).try_lock().expect("free at the start");
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let map = Arc::clone(&map);
                    spawn(async move { map.entry(&key()).wait_released().await })
                })
                .collect();
            holder.leave(Bytes::from_static(b"v"));
            drop(holder);
            for waiter in waiters {
                let got = waiter.await.expect("a waiter finishes");
                assert!(got.is_none() || got == Some(Bytes::from_static(b"v")), "{got:?}");
            }
            assert_eq!(map.len(), 0, "the table keeps an entry nobody uses");
        });
    });
    assert!(runs > 100, "{runs}");
}

/// Three tasks take the mutex (two wait for it, one tries once): never two holders at once,
/// every waiter gets it in turn, and the table empties.
#[test]
fn never_two_holders_and_the_table_empties() {
    let runs = explore(|| {
        block_on(async {
            let map = LocalMutexMap::new();
            let holders = Arc::new(AtomicUsize::new(0));
            let took = Arc::new(AtomicUsize::new(0));
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let (map, holders, took) = (Arc::clone(&map), Arc::clone(&holders), Arc::clone(&took));
                    spawn(async move {
                        let guard = map.entry(&key()).lock().await.expect("never closed");
                        hold(Some(guard), &holders, &took).await;
                    })
                })
                .collect();
            hold(map.entry(&key()).try_lock(), &holders, &took).await;
            for waiter in waiters {
                waiter.await.expect("a waiter finishes");
            }
            assert!(took.load(Ordering::SeqCst) >= 2, "a waiter never got the mutex");
            assert_eq!(map.len(), 0, "the table keeps an entry nobody uses");
        });
    });
    assert!(runs > 100, "{runs}");
}

/// Two tasks take the same three keys' mutexes as a batch does, in order up to the first one
/// held elsewhere, while a third takes the middle key alone: a batch task gets a prefix of the
/// keys (never a key after one it missed), and never a part of the batch the other batch task
/// took a part of at the same time.
#[test]
fn two_tasks_locking_the_same_batch_never_split_it() {
    let runs = explore(|| {
        block_on(async {
            let map = LocalMutexMap::new();
            let keys: Vec<CacheKey> = ["a", "b", "c"].into_iter().map(CacheKey::from).collect();
            let held = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
            let batches: Vec<_> = (0..2)
                .map(|me| {
                    let (map, keys, held) = (Arc::clone(&map), keys.clone(), Arc::clone(&held));
                    spawn(async move {
                        let guards = map.try_lock_batch(keys.iter().map(|key| (key, false)));
                        let taken = guards.iter().take_while(|g| g.is_some()).count();
                        assert!(guards[taken..].iter().all(Option::is_none), "a key after one missed");
                        held[me].store(taken, Ordering::SeqCst);
                        shuttle::future::yield_now().await;
                        let other = held[1 - me].load(Ordering::SeqCst);
                        assert!(taken == 0 || other == 0, "split between two tasks: {taken} and {other}");
                        held[me].store(0, Ordering::SeqCst);
                        drop(guards);
                    })
                })
                .collect();
            let middle = map.entry(&keys[1]).try_lock();
            shuttle::future::yield_now().await;
            drop(middle);
            for batch in batches {
                batch.await.expect("a batch task finishes");
            }
            assert_eq!(map.len(), 0, "the table keeps an entry nobody uses");
        });
    });
    assert!(runs > 100, "{runs}");
}

/// Holds `guard`, if any, across a switch, counting the holders at once and the holds.
async fn hold(guard: Option<super::LocalGuard>, holders: &AtomicUsize, took: &AtomicUsize) {
    if let Some(guard) = guard {
        assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
        took.fetch_add(1, Ordering::SeqCst);
        shuttle::future::yield_now().await;
        holders.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
    }
}

/// A holder is cancelled while it holds the mutex, and a waiter for the release times out
/// (its future dropped), at any point: the task that then waits to take the mutex gets it,
/// and the table empties.
#[test]
fn a_cancelled_holder_frees_the_key_and_a_timed_out_waiter_leaves_nothing() {
    let runs = explore(|| {
        block_on(async {
            let map = LocalMutexMap::new();
            let holder = {
                let map = Arc::clone(&map);
                spawn(async move {
                    let _guard = map.entry(&key()).lock().await.expect("never closed");
                    std::future::pending::<()>().await;
                })
            };
            let timed_out = {
                let map = Arc::clone(&map);
                spawn(async move { map.entry(&key()).wait_released().await })
            };
            holder.abort();
            timed_out.abort();
            drop(map.entry(&key()).lock().await.expect("the next holder gets the key"));
            let _ = holder.await;
            let _ = timed_out.await;
            assert_eq!(map.len(), 0, "the table keeps an entry nobody uses");
        });
    });
    assert!(runs > 100, "{runs}");
}
