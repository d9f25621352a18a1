//! Read coalescing, counted on real servers: single-key reads issued while a read is out go
//! together as one multi-key read; callers of one key share its read; a caller reads its own
//! write; a failed batch fails each of its callers with the same kind of error, and nothing
//! hangs.

mod support;

use std::sync::Arc;
use std::time::Duration;

use dogpile::backend::Backend;
use dogpile::{BackendErrorKind, Bytes, CacheKey};
use dogpile_redis::{RedisAdvancedBackend, RedisAdvancedHstoreBackend, RedisConfig};
use dogpile_testing::{CountingProxy, NetFault, RedisCluster, RedisServer};

/// A configuration for `server` that coalesces reads.
fn config(server: &RedisServer) -> RedisConfig {
    support::config(server).coalesce_reads(true)
}

/// Long enough that only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(30);

fn value_of(key: &CacheKey) -> Bytes {
    Bytes::from(format!("value of {key}").into_bytes())
}

fn plain_keys(n: usize) -> Vec<CacheKey> {
    (0..n).map(|i| CacheKey::from(format!("k{i}"))).collect()
}

/// Writes each key's value.
async fn seed(backend: &impl Backend, keys: &[CacheKey]) {
    let items: Vec<(CacheKey, Bytes)> = keys.iter().map(|k| (k.clone(), value_of(k))).collect();
    backend.set_multi(&items).await.unwrap();
}

/// Runs `futures` from one task, each polled in turn on every wake-up (the first read issued
/// goes out alone, and all the others are issued while it is out).
async fn at_once<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(|f| Box::pin(futures_util::future::maybe_done(f))).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for future in &mut futures {
            done &= future.as_mut().poll(cx).is_ready();
        }
        if done { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    futures.iter_mut().map(|f| f.as_mut().take_output().expect("every future is done")).collect()
}

/// A server reached through a proxy that can delay each way by 50 ms, so that every read of
/// one pass is issued while the first is still out. (A reply back before the pass ends, on a
/// loaded machine, would leave the connection idle for a second lone read.)
struct SlowLink {
    server: RedisServer,
    proxy: CountingProxy,
}

impl SlowLink {
    async fn start() -> Self {
        let server = RedisServer::start();
        let proxy = CountingProxy::start(server.addr()).await;
        SlowLink { server, proxy }
    }

    /// A configuration through the proxy; `coalesce_reads` as given.
    fn config(&self, coalesce: bool) -> RedisConfig {
        RedisConfig::from_url(self.proxy.url()).coalesce_reads(coalesce)
    }

    /// Reads every key at once over the delayed link and checks each value; then the commands
    /// the server ran for them.
    async fn read_at_once(&self, backend: &impl Backend, keys: &[CacheKey]) -> u64 {
        self.server.reset_stats();
        self.proxy.fault(Some(NetFault::Latency(Duration::from_millis(50))));
        let got = at_once(keys.iter().map(|k| backend.get(k))).await;
        self.proxy.fault(None);
        for (key, got) in keys.iter().zip(got) {
            assert_eq!(got.unwrap(), Some(value_of(key)), "{key}");
        }
        self.server.command_count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_reads_of_distinct_keys_are_two_commands() {
    let link = SlowLink::start().await;
    let keys = plain_keys(64);
    let backend = RedisAdvancedBackend::new(link.config(true)).unwrap();
    seed(&backend, &keys).await;
    // The first read alone, then one MGET for the 63 issued while it was out.
    assert_eq!(link.read_at_once(&backend, &keys).await, 2);
    let stats = link.server.must(&["INFO", "commandstats"]).as_text().unwrap();
    assert!(stats.contains("cmdstat_mget:calls=1,"), "{stats}");

    let plain = RedisAdvancedBackend::new(link.config(false)).unwrap();
    seed(&plain, &keys).await;
    assert_eq!(link.read_at_once(&plain, &keys).await, 64, "without coalescing, a GET each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_reads_in_flight_the_first_two_go_alone_and_the_rest_in_at_most_two_commands() {
    let link = SlowLink::start().await;
    let keys = plain_keys(64);
    let backend = RedisAdvancedBackend::new(link.config(true).coalesced_reads_in_flight(2).unwrap()).unwrap();
    seed(&backend, &keys).await;
    // Two reads alone; the 62 issued while they were out wait, and each of the two passes its
    // turn on as it returns: one MGET, or two if both returned before the first leader ran
    // (the second then finds the others taken and reads alone).
    let commands = link.read_at_once(&backend, &keys).await;
    assert!((3..=4).contains(&commands), "{commands} commands");
    let stats = link.server.must(&["INFO", "commandstats"]).as_text().unwrap();
    assert!(stats.contains("cmdstat_mget:calls=1,"), "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_of_one_key_share_its_read() {
    let link = SlowLink::start().await;
    let backend = RedisAdvancedBackend::new(link.config(true)).unwrap();
    let hot = CacheKey::from("hot");
    seed(&backend, std::slice::from_ref(&hot)).await;
    let keys = vec![hot; 64];
    // The first read alone, then one read of the key for the 63 others.
    assert_eq!(link.read_at_once(&backend, &keys).await, 2);
    let server = &link.server;
    let stats = server.must(&["INFO", "commandstats"]).as_text().unwrap();
    assert!(stats.contains("cmdstat_get:calls=1,") && stats.contains("cmdstat_mget:calls=1,"), "{stats}");
    // The MGET read the key once, not once per caller: two lookups in all.
    let stats = server.must(&["INFO", "stats"]).as_text().unwrap();
    assert!(stats.contains("keyspace_hits:2\r\n"), "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_plain_and_hash_keys_is_one_mget_and_one_hmget_per_hash() {
    let link = SlowLink::start().await;
    let backend = RedisAdvancedHstoreBackend::new(link.config(true)).unwrap();
    let mut keys = plain_keys(16);
    for hash in 0..4 {
        keys.extend((0..8).map(|field| CacheKey::hash(format!("h{hash}"), format!("f{field}"))));
    }
    seed(&backend, &keys).await;
    // The first read alone; then, in one pipeline, an MGET and 4 HMGETs.
    assert_eq!(link.read_at_once(&backend, &keys).await, 1 + 1 + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_reads_its_own_writes_and_deletes_while_others_read_the_same_key() {
    let server = RedisServer::start();
    let backend = Arc::new(RedisAdvancedBackend::new(config(&server)).unwrap());
    const WRITERS: usize = 4;
    let keys = plain_keys(WRITERS);
    seed(&*backend, &keys).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Readers keep reads of the writers' keys out all the time.
    let readers: Vec<_> = (0..8)
        .map(|r| {
            let (backend, keys, stop) = (Arc::clone(&backend), keys.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut n = r;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    backend.get(&keys[n % keys.len()]).await.unwrap();
                    n += 1;
                }
            })
        })
        .collect();
    let writers: Vec<_> = keys
        .iter()
        .cloned()
        .map(|key| {
            let backend = Arc::clone(&backend);
            tokio::spawn(async move {
                for round in 0..300 {
                    let value = Bytes::from(format!("{key} round {round}").into_bytes());
                    backend.set(&key, value.clone()).await.unwrap();
                    assert_eq!(backend.get(&key).await.unwrap(), Some(value), "{key} read back after its write");
                    if round % 10 == 0 {
                        backend.delete(&key).await.unwrap();
                        assert_eq!(backend.get(&key).await.unwrap(), None, "{key} read back after its delete");
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_command_fails_only_its_keys_callers() {
    let server = RedisServer::start();
    let backend = RedisAdvancedHstoreBackend::new(config(&server)).unwrap();
    let good: Vec<CacheKey> = (0..8).map(|f| CacheKey::hash("good", format!("f{f}"))).collect();
    seed(&backend, &good).await;
    server.must(&["SET", "not-a-hash", "text"]);
    let bad: Vec<CacheKey> = (0..8).map(|f| CacheKey::hash("not-a-hash", format!("f{f}"))).collect();
    let first = CacheKey::from("first");
    seed(&backend, std::slice::from_ref(&first)).await;
    let keys: Vec<&CacheKey> = std::iter::once(&first).chain(good.iter()).chain(bad.iter()).collect();
    let got = at_once(keys.iter().map(|k| backend.get(k))).await;
    for (key, got) in keys.into_iter().zip(got) {
        match key {
            CacheKey::Hash { name, .. } if name == "not-a-hash" => {
                let err = got.unwrap_err();
                assert_eq!(err.backend_kind(), Some(BackendErrorKind::WrongType), "{key}: {err}");
                assert_eq!(err.key(), Some(key));
            }
            _ => assert_eq!(got.unwrap(), Some(value_of(key)), "{key}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_gets_no_reply_fails_each_caller_and_the_next_reads_succeed() {
    let server = RedisServer::start();
    let proxy = CountingProxy::start(server.addr()).await;
    let quick = Duration::from_millis(300);
    let config =
        RedisConfig::from_url(proxy.url()).socket_timeout(quick).socket_connect_timeout(quick).coalesce_reads(true);
    let backend = RedisAdvancedBackend::new(config).unwrap();
    let keys = plain_keys(64);
    seed(&backend, &keys).await;
    for fault in [NetFault::Reset, NetFault::Blackhole] {
        let started = std::time::Instant::now();
        // The reads are issued over a slow link (the first alone, the others waiting for it),
        // and the fault comes while the first is out: the batch goes out into the fault.
        proxy.fault(Some(NetFault::Latency(Duration::from_millis(100))));
        let reads = at_once(keys.iter().map(|k| backend.get(k)));
        let fault_soon = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            proxy.fault(Some(fault));
        };
        let (got, ()) = tokio::time::timeout(PATIENCE, async { tokio::join!(reads, fault_soon) })
            .await
            .unwrap_or_else(|_| panic!("reads under {fault:?} hang"));
        let kinds: Vec<Option<BackendErrorKind>> =
            got.iter().map(|r| r.as_ref().err().and_then(|e| e.backend_kind())).collect();
        // The batch's callers (all but the first) each fail, under their own key, with one
        // kind of error.
        let batch = &kinds[1..];
        assert!(batch.iter().all(|k| k.is_some() && *k == batch[0]), "under {fault:?}: {kinds:?}");
        for (key, got) in keys.iter().zip(&got).skip(1) {
            assert_eq!(got.as_ref().unwrap_err().key(), Some(key));
        }
        eprintln!("{fault:?}: failed after {:?}", started.elapsed());
        proxy.fault(None);
        // The lane is free again: reads go out and succeed (after the connection is made anew).
        let again = tokio::time::timeout(PATIENCE, async {
            loop {
                let got = at_once(keys.iter().map(|k| backend.get(k))).await;
                if got.iter().all(Result::is_ok) {
                    return got;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("reads never succeed again after {fault:?}"));
        eprintln!("{fault:?}: read again after {:?}", started.elapsed());
        for (key, got) in keys.iter().zip(again) {
            assert_eq!(got.unwrap(), Some(value_of(key)));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_each_node_gets_a_read_alone_and_then_one_batch() {
    let cluster = RedisCluster::start(3, 0);
    let keys = plain_keys(64);
    let proxies = cluster.counting_proxies().await;
    let nodes: Vec<String> = proxies.iter().map(|p| p.addr_string()).collect();
    let backend = RedisAdvancedBackend::new(RedisConfig::new().cluster(nodes).coalesce_reads(true)).unwrap();
    // Connects and learns which node owns which slot.
    seed(&backend, &keys).await;
    // Each way delayed, so that every read is issued while the first on its node is out.
    proxies.iter().for_each(|p| p.reset());
    proxies.iter().for_each(|p| p.fault(Some(NetFault::Latency(Duration::from_millis(50)))));
    let got = at_once(keys.iter().map(|k| backend.get(k))).await;
    proxies.iter().for_each(|p| p.fault(None));
    for (key, got) in keys.iter().zip(got) {
        assert_eq!(got.unwrap(), Some(value_of(key)), "{key}");
    }
    // Per node: its first read alone, then one pipeline for the reads issued while it was out.
    let round_trips: Vec<usize> = proxies.iter().map(|p| p.round_trips()).collect();
    assert_eq!(round_trips, [2, 2, 2], "round trips per node");
}
