//! A Redis Cluster changing under load: a slot migration and a primary failover, while tasks
//! loop over get_or_create and get_multi. No panic, no hung call, no wrong value; the errors of
//! a failover are clear and end within a bounded time.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dogpile::{CacheKey, Region};
use dogpile_redis::RedisAdvancedHstoreBackend;
use dogpile_testing::RedisCluster;
use dogpile_testing::ServerExt;
use support::cluster_config;

/// What the callers saw.
#[derive(Debug, Default)]
struct Seen {
    calls: u64,
    errors: BTreeMap<String, u64>,
    hung: u64,
    wrong: Vec<String>,
    /// The first error of each kind, in full.
    first: BTreeMap<String, String>,
}

fn keys() -> Vec<CacheKey> {
    (0..200)
        .map(|i| {
            if i % 2 == 0 {
                CacheKey::from(format!("t{i}"))
            } else {
                CacheKey::hash(format!("th{}", i % 16), format!("f{i}"))
            }
        })
        .collect()
}

/// Tasks that loop until `stop`; every value names its key, and `last_ok` is the time of the
/// latest success (milliseconds since `start`).
fn callers(
    region: &Region,
    stop: &Arc<AtomicBool>,
    last_ok: &Arc<AtomicU64>,
    start: Instant,
) -> Vec<tokio::task::JoinHandle<Seen>> {
    let keys = Arc::new(keys());
    (0..8u64)
        .map(|id| {
            let (region, keys, stop, last_ok) = (region.clone(), keys.clone(), stop.clone(), last_ok.clone());
            tokio::spawn(async move {
                let mut seen = Seen::default();
                let mut n = id as usize * 7;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let batch: Vec<CacheKey> = (0..5).map(|j| keys[(n * 13 + j * 31) % keys.len()].clone()).collect();
                    let call = async {
                        if n.is_multiple_of(2) {
                            let key = &batch[0];
                            let v: String = region
                                .get_or_create(key, || async { Ok::<_, std::io::Error>(key.to_string()) })
                                .await?;
                            Ok::<_, dogpile::Error>(vec![(key.to_string(), Some(v))])
                        } else {
                            let got: Vec<Option<String>> = region.get_multi(&batch).await?;
                            Ok(batch.iter().map(|k| k.to_string()).zip(got).collect())
                        }
                    };
                    seen.calls += 1;
                    match tokio::time::timeout(Duration::from_secs(10), call).await {
                        Err(_) => seen.hung += 1,
                        Ok(Err(err)) => {
                            let kind = err
                                .backend_kind()
                                .map_or_else(|| "not a backend error".to_owned(), |k| format!("{k:?}"));
                            seen.first.entry(kind.clone()).or_insert_with(|| err.to_string());
                            *seen.errors.entry(kind).or_default() += 1;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Ok(Ok(pairs)) => {
                            for (key, value) in pairs {
                                if value.as_ref().is_some_and(|v| *v != key) {
                                    seen.wrong.push(format!("{key} gave {value:?}"));
                                }
                            }
                            last_ok.fetch_max(start.elapsed().as_millis() as u64, Ordering::Relaxed);
                        }
                    }
                    tokio::task::yield_now().await;
                }
                seen
            })
        })
        .collect()
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<Seen>>) -> Seen {
    let mut all = Seen::default();
    for task in tasks {
        let seen = task.await.expect("a caller panicked");
        all.calls += seen.calls;
        all.hung += seen.hung;
        all.wrong.extend(seen.wrong);
        for (k, e) in seen.first {
            all.first.entry(k).or_insert(e);
        }
        for (k, n) in seen.errors {
            *all.errors.entry(k).or_default() += n;
        }
    }
    all
}

fn region(cluster: &RedisCluster) -> Region {
    let config = cluster_config(cluster)
        .socket_timeout(Duration::from_millis(500))
        .socket_connect_timeout(Duration::from_millis(500))
        .distributed_lock(true)
        .redis_expiration_time(Duration::from_secs(600));
    Region::builder()
        .expiration_time(Duration::from_millis(300))
        .backend(RedisAdvancedHstoreBackend::new(config).unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_migration_under_load_loses_nothing() {
    let cluster = RedisCluster::start(3, 0);
    let region = region(&cluster);
    let (stop, last_ok, start) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), Instant::now());
    let tasks = callers(&region, &stop, &last_ok, start);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Move 1000 slots, keys included, from the first primary to the second.
    let ports = cluster.primaries();
    let id = |port: u16| cluster.node(port).unwrap().must(&["CLUSTER", "MYID"]).as_text().unwrap();
    let (from, to) = (id(ports[0]), id(ports[1]));
    let out = tokio::task::spawn_blocking({
        let entry = format!("127.0.0.1:{}", ports[0]);
        move || {
            dogpile_testing::cluster::redis_cli(&[
                "--cluster",
                "reshard",
                &entry,
                "--cluster-from",
                &from,
                "--cluster-to",
                &to,
                "--cluster-slots",
                "1000",
                "--cluster-yes",
                "--cluster-pipeline",
                "10",
            ])
        }
    })
    .await
    .unwrap()
    .unwrap_or_else(|err| panic!("{err}"));
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = collect(tasks).await;
    eprintln!("slot migration: {seen:?}");
    assert!(seen.calls > 100, "{seen:?}");
    assert_eq!(seen.hung, 0, "{seen:?}");
    assert!(seen.wrong.is_empty(), "{seen:?}");
    assert!(seen.errors.is_empty(), "a slot migration is routine: no call may fail ({seen:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_failover_under_load_recovers_in_bounded_time() {
    let mut cluster = RedisCluster::start(3, 1);
    let region = region(&cluster);
    let (stop, last_ok, start) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), Instant::now());
    let tasks = callers(&region, &stop, &last_ok, start);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let victim = cluster.owner_of_key("t0").port();
    let killed_at = start.elapsed();
    cluster.kill(victim);
    // A replica takes over once the others see the primary fail (node timeout 1 s).
    let promoted = Instant::now();
    cluster.wait_until_ok(Duration::from_secs(30));
    let promoted_after = promoted.elapsed();
    // Calls succeed again, and keep succeeding, within a bounded time after the promotion.
    let deadline = Instant::now() + Duration::from_secs(15);
    let recovered = loop {
        let mark = start.elapsed().as_millis() as u64;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if last_ok.load(Ordering::Relaxed) > mark {
            break start.elapsed() - killed_at;
        }
        assert!(Instant::now() < deadline, "no call succeeded within 15 s of the promotion");
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = collect(tasks).await;
    eprintln!("failover: promoted after {promoted_after:?}, calls succeed {recovered:?} after the kill; {seen:?}");
    assert!(seen.calls > 100, "{seen:?}");
    assert_eq!(seen.hung, 0, "{seen:?}");
    assert!(seen.wrong.is_empty(), "{seen:?}");
    assert!(
        seen.errors.keys().all(|k| k == "Connection" || k == "Timeout" || k == "Other"),
        "errors of a failover are connection errors and timeouts: {seen:?}"
    );
    // After recovery, every key reads again.
    let got: Vec<Option<String>> = region.get_multi(keys()).await.unwrap();
    assert_eq!(got.len(), 200);
}
