//! An L1 over each Redis backend, kept coherent by key tracking: writes by any client evict
//! (redis-cli's protocol, a second Rust process, redis-py), a hash's write or expiry evicts
//! its fields, a lost tracking connection flushes, a server that refuses tracking is
//! reported at start, and on a cluster every primary is tracked, through a failover too.

mod support;

use std::time::{Duration, Instant};

use dogpile::backend::{Backend, L1Backend, L1Status};
use dogpile::{Bytes, CacheKey, Region};
use dogpile_redis::{RedisAdvancedBackend, RedisAdvancedHstoreBackend, RedisConfig};
use dogpile_testing::ServerExt;
use dogpile_testing::python::PythonEnv;
use dogpile_testing::{RedisCluster, RedisServer};
use support::{cluster_config, config, with_l1};

const PATIENCE: Duration = Duration::from_secs(10);

fn key(k: &str) -> CacheKey {
    CacheKey::from(k)
}

fn bytes(s: &str) -> Bytes {
    Bytes::from(s.to_owned())
}

/// Reads `key` through the L1 until it gives `want`, or fails after [`PATIENCE`]; returns
/// how long it took.
async fn until_read<B: Backend>(l1: &L1Backend<B>, key: &CacheKey, want: Option<&str>) -> Duration {
    let start = Instant::now();
    loop {
        let got = l1.get(key).await.expect("read");
        if got.as_deref() == want.map(str::as_bytes) {
            return start.elapsed();
        }
        assert!(start.elapsed() < PATIENCE, "{key:?} still reads {got:?}, not {want:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads `key` until a read is answered by the L1 (our own write's invalidation may drop the
/// first entry), so that what follows starts from a value held in memory.
async fn held<B: Backend>(l1: &L1Backend<B>, key: &CacheKey) {
    let start = Instant::now();
    loop {
        let hits = l1.stats().hits;
        l1.get(key).await.expect("read");
        if l1.stats().hits > hits {
            return;
        }
        assert!(start.elapsed() < PATIENCE, "{key:?} is never held by the L1");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn advanced(server: &RedisServer) -> L1Backend<RedisAdvancedBackend> {
    with_l1(RedisAdvancedBackend::new(config(server)).unwrap().with_l1(L1Backend::builder().capacity(100)))
}

fn hstore(
    server: &RedisServer,
    configure: impl FnOnce(RedisConfig) -> RedisConfig,
) -> L1Backend<RedisAdvancedHstoreBackend> {
    let backend = RedisAdvancedHstoreBackend::new(configure(config(server))).unwrap();
    with_l1(backend.with_l1(L1Backend::builder().capacity(100)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_cost_no_round_trip_and_a_foreign_set_evicts() {
    let server = RedisServer::start();
    let l1 = advanced(&server);
    l1.set(&key("k"), bytes("mine")).await.unwrap();
    // Our own write's invalidation may drop it once; after a read it stays.
    until_read(&l1, &key("k"), Some("mine")).await;
    held(&l1, &key("k")).await;
    let before = server.command_count();
    for _ in 0..100 {
        assert_eq!(l1.get(&key("k")).await.unwrap().as_deref(), Some(&b"mine"[..]));
    }
    assert!(server.command_count() - before < 10, "hits went to the server");
    server.must(&["SET", "k", "theirs"]);
    until_read(&l1, &key("k"), Some("theirs")).await;
    server.must(&["DEL", "k"]);
    until_read(&l1, &key("k"), None).await;
    assert!(l1.stats().invalidations >= 2, "{:?}", l1.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_by_python_evicts_a_key_and_every_field_of_a_hash() {
    let server = RedisServer::start();
    let plain = advanced(&server);
    let hashes = hstore(&server, |c| c);
    plain.set(&key("user:1"), bytes("rust")).await.unwrap();
    let fields = [CacheKey::hash("users", "1"), CacheKey::hash("users", "2")];
    hashes.set_multi(&[(fields[0].clone(), bytes("a")), (fields[1].clone(), bytes("b"))]).await.unwrap();
    until_read(&plain, &key("user:1"), Some("rust")).await;
    until_read(&hashes, &fields[1], Some("b")).await;
    held(&plain, &key("user:1")).await;
    held(&hashes, &fields[0]).await;
    held(&hashes, &fields[1]).await;
    let script = format!(
        "import redis\nr = redis.Redis(host='127.0.0.1', port={})\nr.set('user:1', b'python')\nr.hset('users', '2', b'python')\n",
        server.port()
    );
    let out = std::process::Command::new(PythonEnv::Dogpile1.python()).arg("-c").arg(&script).output().unwrap();
    assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
    until_read(&plain, &key("user:1"), Some("python")).await;
    until_read(&hashes, &fields[1], Some("python")).await;
    assert_eq!(hashes.get(&fields[0]).await.unwrap().as_deref(), Some(&b"a"[..]), "a sibling field, read again");
}

/// Run as a child (with `DOGPILE_L1_WRITE_TO` set): writes through a dogpile region of its
/// own and exits. Run as the test: reads through an L1, has a child process write, and sees
/// the new value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_by_another_rust_process_evicts() {
    if let Ok(url) = std::env::var("DOGPILE_L1_WRITE_TO") {
        let backend = RedisAdvancedBackend::new(RedisConfig::from_url(url)).unwrap();
        let region = Region::builder().backend(backend).build().unwrap();
        region.set("shared", &"from the other process").await.unwrap();
        return;
    }
    let server = RedisServer::start();
    let l1 = advanced(&server);
    let region = Region::builder().backend(l1.clone()).build().unwrap();
    region.set("shared", &"from this process").await.unwrap();
    let read = || async { region.get::<String>("shared").await.unwrap() };
    assert_eq!(read().await.as_deref(), Some("from this process"));
    held(&l1, &key("shared")).await;
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_write_by_another_rust_process_evicts", "--nocapture"])
        .env("DOGPILE_L1_WRITE_TO", server.url())
        .output()
        .unwrap();
    assert!(child.status.success(), "child: {}", String::from_utf8_lossy(&child.stdout));
    let start = Instant::now();
    while read().await.as_deref() != Some("from the other process") {
        assert!(start.elapsed() < PATIENCE, "the other process's write is not seen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_hash_leaves_the_l1_with_its_fields() {
    let server = RedisServer::start();
    let l1 = hstore(&server, |c| c.redis_expiration_time(Duration::from_secs(1)));
    let field = CacheKey::hash("h", "f");
    l1.set(&field, bytes("v")).await.unwrap();
    until_read(&l1, &field, Some("v")).await;
    held(&l1, &field).await;
    // Redis expires the hash on its own (its active expiry), and says so to the tracking.
    let gone = until_read(&l1, &field, None).await;
    assert!(gone >= Duration::from_millis(500), "gone after {gone:?}, before its TTL");
}

/// On Valkey 9 with per-field TTLs, a field that expires on its own leaves the L1 (its
/// sibling, written later, stays).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_field_leaves_the_l1() {
    let server = RedisServer::start_valkey();
    let l1 = hstore(&server, |c| {
        c.redis_expiration_time(Duration::from_secs(1))
            .redis_expiration_time_hash(dogpile_redis::HashTtlPolicy::PerField)
    });
    let (field, sibling) = (CacheKey::hash("h", "f"), CacheKey::hash("h", "g"));
    l1.set(&field, bytes("v")).await.unwrap();
    until_read(&l1, &field, Some("v")).await;
    held(&l1, &field).await;
    let gone = until_read(&l1, &field, None).await;
    assert!(gone >= Duration::from_millis(300), "gone after {gone:?}, before its TTL");
    l1.set(&sibling, bytes("w")).await.unwrap();
    until_read(&l1, &sibling, Some("w")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_tracking_connection_flushes_until_tracking_is_back() {
    let server = RedisServer::start();
    let l1 = advanced(&server);
    l1.set(&key("k"), bytes("1")).await.unwrap();
    until_read(&l1, &key("k"), Some("1")).await;
    held(&l1, &key("k")).await;
    let flushes = l1.stats().flushes;
    // Kill the tracking connection (the client with the tracking flag `t`).
    let clients = server.must(&["CLIENT", "LIST"]).as_text().unwrap();
    let tracking: Vec<&str> = clients
        .lines()
        .filter(|line| line.split(' ').any(|f| f.starts_with("flags=") && f.contains('t')))
        .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("id=")))
        .collect();
    assert_eq!(tracking.len(), 1, "{clients}");
    server.must(&["CLIENT", "KILL", "ID", tracking[0]]);
    let start = Instant::now();
    while l1.stats().flushes == flushes {
        assert!(start.elapsed() < PATIENCE, "no flush after the connection was killed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Meanwhile, a write elsewhere.
    server.must(&["SET", "k", "2"]);
    assert_eq!(l1.get(&key("k")).await.unwrap().as_deref(), Some(&b"2"[..]), "read from Redis");
    let start = Instant::now();
    while l1.status() != L1Status::Active {
        assert!(start.elapsed() < PATIENCE, "tracking not back: {:?}", l1.status());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    until_read(&l1, &key("k"), Some("2")).await;
    server.must(&["SET", "k", "3"]);
    until_read(&l1, &key("k"), Some("3")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_refuses_tracking_is_reported_at_start_without_the_password() {
    let server = RedisServer::start();
    server.must(&["ACL", "SETUSER", "app", "on", ">s3cr3t-pw", "~*", "&*", "+@all", "-client|tracking"]);
    let url = format!("redis://app:s3cr3t-pw@127.0.0.1:{}/0", server.port());
    let backend = RedisAdvancedBackend::new(RedisConfig::from_url(url)).unwrap();
    let l1 = backend.with_l1(L1Backend::builder()).unwrap();
    let err = tokio::time::timeout(PATIENCE, l1.ready()).await.expect("an answer").unwrap_err();
    let shown = format!("{err} {err:?} {:?}", l1.status());
    assert!(matches!(err, dogpile::Error::Config { .. }), "{shown}");
    assert!(shown.contains("NOPERM") || shown.contains("permission"), "{shown}");
    assert!(!shown.contains("s3cr3t-pw"), "{shown}");
    // The backend still works, without the L1.
    l1.set(&key("k"), bytes("v")).await.unwrap();
    assert_eq!(l1.get(&key("k")).await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(l1.stats().hits, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_within_its_bound() {
    let server = RedisServer::start();
    let l1 = advanced(&server);
    let items: Vec<(CacheKey, Bytes)> = (0..1_000).map(|i| (key(&format!("k{i}")), bytes("value"))).collect();
    l1.set_multi(&items).await.unwrap();
    let keys: Vec<CacheKey> = items.iter().map(|(k, _)| k.clone()).collect();
    assert!(l1.get_multi(&keys).await.unwrap().iter().all(Option::is_some));
    let stats = l1.stats();
    assert!(stats.entries <= 100, "{stats:?}");
}

/// The plain keys `k0`, `k1`, ... of which the first owned by each primary of `cluster`.
fn one_key_per_primary(cluster: &RedisCluster) -> Vec<CacheKey> {
    let mut owners = std::collections::BTreeSet::new();
    let keys: Vec<CacheKey> = (0..100)
        .map(|i| format!("k{i}"))
        .filter(|k| owners.insert(cluster.owner_of_key(k).port()))
        .map(CacheKey::from)
        .collect();
    assert_eq!(keys.len(), cluster.primaries().len(), "a key for every primary");
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_a_write_on_any_primary_evicts() {
    let cluster = RedisCluster::start(3, 0);
    let l1 = with_l1(RedisAdvancedBackend::new(cluster_config(&cluster)).unwrap().with_l1(L1Backend::builder()));
    let keys = one_key_per_primary(&cluster);
    for key in &keys {
        l1.set(key, bytes("mine")).await.unwrap();
        until_read(&l1, key, Some("mine")).await;
        held(&l1, key).await;
    }
    for key in &keys {
        let name = key.to_string();
        cluster.owner_of_key(&name).must(&["SET", &name, "theirs"]);
        until_read(&l1, key, Some("theirs")).await;
    }
    // A hash's fields, through the hstore backend's L1, on the primary that owns the hash.
    let hstore = RedisAdvancedHstoreBackend::new(cluster_config(&cluster)).unwrap();
    let hstore = with_l1(hstore.with_l1(L1Backend::builder()));
    let field = CacheKey::hash("h", "f");
    hstore.set(&field, bytes("mine")).await.unwrap();
    until_read(&hstore, &field, Some("mine")).await;
    held(&hstore, &field).await;
    cluster.owner_of_key("h").must(&["HSET", "h", "f", "theirs"]);
    until_read(&hstore, &field, Some("theirs")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_a_failover_moves_tracking_to_the_new_primary() {
    let mut cluster = RedisCluster::start(3, 1);
    let config = cluster_config(&cluster)
        .socket_timeout(Duration::from_millis(500))
        .socket_connect_timeout(Duration::from_millis(500));
    let l1 = with_l1(RedisAdvancedBackend::new(config).unwrap().with_l1(L1Backend::builder()));
    let key = key("k1");
    l1.set(&key, bytes("mine")).await.unwrap();
    until_read(&l1, &key, Some("mine")).await;
    held(&l1, &key).await;
    let victim = cluster.owner_of_key("k1").port();
    cluster.kill(victim);
    cluster.wait_until_ok(Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(30);
    while l1.stats().flushes == 0 || l1.status() != L1Status::Active {
        assert!(Instant::now() < deadline, "not tracking again: {:?} {:?}", l1.status(), l1.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let new_owner = cluster.owner_of_key("k1");
    assert_ne!(new_owner.port(), victim);
    // Written anew (the replica may have missed the first write), held, then evicted by a
    // write on the new primary.
    l1.set(&key, bytes("again")).await.unwrap();
    until_read(&l1, &key, Some("again")).await;
    held(&l1, &key).await;
    new_owner.must(&["SET", "k1", "theirs"]);
    until_read(&l1, &key, Some("theirs")).await;
}

/// A manual failover leaves the old primary up, as a replica: its tracking connection stays,
/// so only a look at the cluster's primaries shows that writes now go elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_a_manual_failover_moves_tracking_to_the_promoted_replica() {
    let cluster = RedisCluster::start(3, 1);
    let l1 = with_l1(RedisAdvancedBackend::new(cluster_config(&cluster)).unwrap().with_l1(L1Backend::builder()));
    let key = key("k1");
    let owner = cluster.owner_of_key("k1").port();
    let replica = cluster
        .nodes()
        .iter()
        .find(|node| {
            let info = node.command(&["INFO", "replication"]).ok().and_then(|r| r.as_text()).unwrap_or_default();
            info.contains("role:slave") && info.contains(&format!("master_port:{owner}"))
        })
        .expect("a replica of the key's primary");
    let flushes = l1.stats().flushes;
    tokio::task::block_in_place(|| cluster.fail_over(replica.port(), Duration::from_secs(30)));
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.owner_of(cluster.slot_of("k1")) != Some(replica.port()) {
        assert!(Instant::now() < deadline, "the replica was not promoted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while l1.stats().flushes == flushes || l1.status() != L1Status::Active {
        assert!(Instant::now() < deadline, "not tracking the new primary: {:?} {:?}", l1.status(), l1.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    l1.set(&key, bytes("mine")).await.unwrap();
    until_read(&l1, &key, Some("mine")).await;
    held(&l1, &key).await;
    replica.must(&["SET", "k1", "theirs"]);
    until_read(&l1, &key, Some("theirs")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l1_table_in_the_configuration_puts_one_in_front() {
    use dogpile::config::{Arguments, ConfigValue};
    dogpile_redis::register();
    let server = RedisServer::start();
    let l1 = Arguments::new().with("capacity", 100).with("prefixes", ConfigValue::List(vec!["hot:".into()]));
    let args = Arguments::new().with("url", server.url()).with("l1", ConfigValue::Map(l1));
    let region = Region::builder().configure(dogpile_redis::ADVANCED, args.clone()).build().unwrap();
    region.set("hot:1", &"v").await.unwrap();
    region.set("cold:1", &"v").await.unwrap();
    // Once tracking is on, reads of a hot key stop reaching the server; cold keys always do.
    let start = Instant::now();
    loop {
        let before = server.command_count();
        for _ in 0..20 {
            assert_eq!(region.get::<String>("hot:1").await.unwrap().as_deref(), Some("v"));
        }
        if server.command_count() - before < 5 {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "hot reads still reach the server");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = server.command_count();
    for _ in 0..20 {
        region.get::<String>("cold:1").await.unwrap();
    }
    assert!(server.command_count() - before >= 20);
    let both = Arguments::new().with("capacity", 1).with("max_bytes", 1);
    let wrong = Region::builder().configure(dogpile_redis::ADVANCED, args.with("l1", ConfigValue::Map(both))).build();
    let err = wrong.expect_err("both bounds refused");
    assert!(err.to_string().contains("max_bytes"), "{err}");
}
