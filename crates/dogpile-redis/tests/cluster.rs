//! Both backends on a Redis Cluster: the conformance suite, multi-key operations over several
//! nodes in one round trip per node, and the lock in its key's slot.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use dogpile::backend::DynBackend;
use dogpile::codec::{Codec, Envelope, Format};
use dogpile::{Bytes, CacheKey};
use dogpile_redis::{RedisAdvancedHstoreBackend, RedisConfig};
use dogpile_testing::ServerExt;
use dogpile_testing::server::Reply;
use dogpile_testing::{CountingProxy, RedisCluster};
use support::{advanced_cluster, cluster_config, hstore_cluster};

dogpile_testing::conformance!(advanced_on_cluster, || advanced_cluster(|c| c.distributed_lock(true)));
dogpile_testing::conformance!(hstore_on_cluster, || hstore_cluster(|c| c
    .redis_expiration_time(Duration::from_secs(60))
    .distributed_lock(true))
.with_codec(Codec::new(Format::Json, Envelope::Dogpile1)));

/// Plain keys over every primary, fields of several hashes, and duplicates of both.
fn mixed_keys() -> Vec<CacheKey> {
    let mut keys: Vec<CacheKey> = (0..60).map(|i| CacheKey::from(format!("k{i}"))).collect();
    keys.extend((0..30).map(|i| CacheKey::hash(format!("h{}", i % 5), format!("f{i}"))));
    keys.push(CacheKey::from("k7"));
    keys.push(CacheKey::hash("h1", "f1"));
    keys
}

fn value_of(key: &CacheKey) -> Bytes {
    Bytes::from(format!("value of {key}").into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_key_operations_span_every_node_and_keep_the_callers_order() {
    let cluster = RedisCluster::start(3, 0);
    let backend =
        RedisAdvancedHstoreBackend::new(cluster_config(&cluster).redis_expiration_time(Duration::from_secs(60)))
            .unwrap();
    let keys = mixed_keys();
    let owners: BTreeSet<u16> = (0..60).map(|i| cluster.owner_of_key(&format!("k{i}")).port()).collect();
    assert_eq!(owners.len(), 3, "the keys must span the three primaries");

    let items: Vec<(CacheKey, Bytes)> = keys.iter().map(|k| (k.clone(), value_of(k))).collect();
    backend.set_multi(&items).await.unwrap();
    let got = backend.get_multi(&keys).await.unwrap();
    for (key, value) in keys.iter().zip(&got) {
        assert_eq!(value.as_ref(), Some(&value_of(key)), "{key}");
    }
    // Each hash got its TTL with its write, on the node that owns it.
    for h in 0..5 {
        let name = format!("h{h}");
        match cluster.owner_of_key(&name).must(&["PTTL", &name]) {
            Reply::Int(ms) => assert!(ms > 50_000, "{name}: {ms}"),
            other => panic!("{other:?}"),
        }
    }
    // And every plain key is on its own node.
    for i in 0..60 {
        let key = format!("k{i}");
        assert_eq!(cluster.owner_of_key(&key).must(&["EXISTS", &key]), Reply::Int(1), "{key}");
    }
    backend.delete_multi(&keys[..10]).await.unwrap();
    let got = backend.get_multi(&keys).await.unwrap();
    for (key, value) in keys.iter().zip(&got) {
        assert_eq!(value.is_none(), keys[..10].contains(key), "{key}: {value:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_key_operation_is_one_round_trip_per_node_involved() {
    let cluster = RedisCluster::start(3, 0);
    // The plain keys of one node (asked before the nodes announce other ports).
    let one_node = cluster.owner_of_key("k1").port();
    let local: Vec<CacheKey> = (0..60)
        .map(|i| format!("k{i}"))
        .filter(|k| cluster.owner_of_key(k).port() == one_node)
        .map(CacheKey::from)
        .collect();
    let proxies = cluster.counting_proxies().await;
    let nodes: Vec<String> = proxies.iter().map(|p| p.addr_string()).collect();
    let backend = RedisAdvancedHstoreBackend::new(
        RedisConfig::new().cluster(nodes).redis_expiration_time(Duration::from_secs(60)),
    )
    .unwrap();
    let keys = mixed_keys();
    let items: Vec<(CacheKey, Bytes)> = keys.iter().map(|k| (k.clone(), value_of(k))).collect();
    // Connect and learn the slots first.
    backend.set_multi(&items).await.unwrap();
    let round_trips = |proxies: &[CountingProxy]| proxies.iter().map(|p| p.round_trips()).collect::<Vec<_>>();

    for (name, run) in [("get_multi", 0), ("set_multi", 1), ("delete_multi", 2)] {
        proxies.iter().for_each(|p| p.reset());
        match run {
            0 => drop(backend.get_multi(&keys).await.unwrap()),
            1 => backend.set_multi(&items).await.unwrap(),
            _ => backend.delete_multi(&keys).await.unwrap(),
        }
        let counts = round_trips(&proxies);
        assert_eq!(counts.iter().sum::<usize>(), 3, "{name}: round trips per node {counts:?}");
        assert_eq!(counts.iter().filter(|&&n| n == 1).count(), 3, "{name}: round trips per node {counts:?}");
    }

    // Keys on one node only: one round trip, to that node.
    proxies.iter().for_each(|p| p.reset());
    backend.get_multi(&local).await.unwrap();
    assert_eq!(round_trips(&proxies).iter().sum::<usize>(), 1, "{:?}", round_trips(&proxies));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_lives_in_its_keys_slot() {
    let cluster = RedisCluster::start(3, 0);
    let backend = RedisAdvancedHstoreBackend::new(cluster_config(&cluster).distributed_lock(true)).unwrap();
    for key in [CacheKey::from("lk1"), CacheKey::from("lk2"), CacheKey::hash("lh", "f")] {
        let mutex = backend.get_mutex(&key).expect("a distributed lock");
        assert!(mutex.acquire(false).await.unwrap());
        let name = format!("_lock{}", key.lock_name());
        let holder = cluster.owner_of_key(&name);
        assert!(matches!(holder.must(&["PTTL", &name]), Reply::Int(ms) if ms > 0), "{name}");
        assert!(mutex.locked().await.unwrap());
        mutex.release().await.unwrap();
        assert_eq!(holder.must(&["EXISTS", &name]), Reply::Int(0), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_or_create_multi_under_the_lock_is_a_few_round_trips_per_node_whatever_the_misses() {
    let cluster = RedisCluster::start(3, 0);
    let proxies = cluster.counting_proxies().await;
    let nodes: Vec<String> = proxies.iter().map(|p| p.addr_string()).collect();
    let config =
        RedisConfig::new().cluster(nodes).redis_expiration_time(Duration::from_secs(60)).distributed_lock(true);
    let region = dogpile::Region::builder().backend(RedisAdvancedHstoreBackend::new(config).unwrap()).build().unwrap();
    let keys = mixed_keys();
    let create = |missing: Vec<CacheKey>| async move {
        Ok::<_, std::io::Error>(missing.iter().map(|k| format!("v {k}")).collect::<Vec<String>>())
    };
    // Connect and learn the slots first; then half the keys exist.
    let half: Vec<CacheKey> = keys.iter().step_by(2).cloned().collect();
    let _: Vec<String> = region.get_or_create_multi(half, create).await.unwrap();
    proxies.iter().for_each(|p| p.reset());
    let got: Vec<String> = region.get_or_create_multi(keys.clone(), create).await.unwrap();
    assert_eq!(got, keys.iter().map(|k| format!("v {k}")).collect::<Vec<_>>());
    let counts: Vec<usize> = proxies.iter().map(|p| p.round_trips()).collect();
    // Per node: the read, the locks, the re-read of the keys locked, the writes and releases.
    assert!(counts.iter().all(|&n| n <= 4), "round trips per node {counts:?}");
    for node in cluster.nodes() {
        assert_eq!(node.must(&["KEYS", "_lock*"]), Reply::Array(Some(Vec::new())), "no lock left");
    }
}
