//! dogpile's Redis connection options: TCP keepalive (`socket_keepalive`,
//! `socket_keepalive_options`, flat or in `connection_kwargs`), a client or a connection the
//! caller made (dogpile's `connection_pool`), and arguments nobody reads reported once.

mod support;

use std::time::Duration;

use dogpile::backend::{Backend, L1Backend};
use dogpile::config::Arguments;
use dogpile::{Bytes, CacheKey, Region};
use dogpile_redis::{Keepalive, RedisAdvancedBackend, RedisConfig};
use dogpile_testing::RedisServer;

/// The keepalive timer of this process's established connections to `port`, as the kernel
/// shows them in `/proc/net/tcp`: `Some(seconds to the next probe)` for a connection whose
/// pending timer is the keepalive one, `None` for one without; one entry per connection.
/// Other processes' connections to the port (a replica's, a sentinel's) are left out: only
/// sockets among this process's file descriptors count.
fn keepalive_timers(port: u16) -> Vec<Option<f64>> {
    let ours: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
                .filter_map(|target| {
                    let target = target.to_string_lossy().into_owned();
                    Some(target.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    let mut timers = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state), Some(timer)) = (fields.get(2), fields.get(3), fields.get(5)) else {
                continue;
            };
            let remote_port = remote.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            // 01: established; the timer field is `kind:when`, kind 2 the keepalive timer,
            // `when` in clock ticks (USER_HZ, 100 a second).
            let inode = fields.get(9).copied().unwrap_or_default();
            if remote_port != Some(port) || *state != "01" || !ours.contains(inode) {
                continue;
            }
            let (kind, when) = timer.split_once(':').unwrap_or(("00", "0"));
            let ticks = u64::from_str_radix(when, 16).unwrap_or(0);
            timers.push((kind == "02").then_some(ticks as f64 / 100.0));
        }
    }
    timers
}

async fn write_once(backend: &impl Backend) {
    backend.set(&CacheKey::from("k"), Bytes::from_static(b"v")).await.unwrap();
    assert_eq!(backend.get(&CacheKey::from("k")).await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn keepalive_probes_are_set_on_the_connection_as_configured() {
    dogpile_redis::register();
    let with = RedisServer::start();
    let without = RedisServer::start();
    let probed = RedisAdvancedBackend::new(
        RedisConfig::from_url(with.url()).socket_keepalive(Keepalive::new().idle(Duration::from_secs(7))),
    )
    .unwrap();
    let plain = RedisAdvancedBackend::new(RedisConfig::from_url(without.url())).unwrap();
    write_once(&probed).await;
    write_once(&plain).await;

    let timers = keepalive_timers(with.port());
    assert_eq!(timers.len(), 1, "one connection: {timers:?}");
    let next_probe = timers[0].expect("the keepalive timer is armed");
    assert!(next_probe > 0.0 && next_probe <= 7.0, "the first probe within the 7 s idle time: {next_probe}");
    assert_eq!(keepalive_timers(without.port()), [None], "no keepalive unless asked for");
}

#[tokio::test]
async fn keepalive_probes_on_every_node_of_a_cluster() {
    let cluster = dogpile_testing::RedisCluster::start(3, 0);
    let config = support::cluster_config(&cluster).socket_keepalive(Keepalive::new().idle(Duration::from_secs(6)));
    let backend = RedisAdvancedBackend::new(config).unwrap();
    // Keys on every primary, so that the cluster connection reaches each.
    let keys: Vec<CacheKey> = (0..64).map(|i| CacheKey::from(format!("k{i}"))).collect();
    let items: Vec<(CacheKey, Bytes)> = keys.iter().map(|k| (k.clone(), Bytes::from_static(b"v"))).collect();
    backend.set_multi(&items).await.unwrap();
    for node in cluster.primaries() {
        let timers = keepalive_timers(node);
        assert!(!timers.is_empty(), "a connection to {node}");
        for timer in timers {
            let next_probe = timer.unwrap_or_else(|| panic!("no keepalive timer on the connection to {node}"));
            assert!(next_probe > 0.0 && next_probe <= 6.0, "{node}: {next_probe}");
        }
    }
}

#[tokio::test]
async fn keepalive_probes_behind_sentinel() {
    let set = dogpile_testing::RedisSentinelSet::start(None, None);
    let config = support::sentinel_config(&set).socket_keepalive(Keepalive::new().idle(Duration::from_secs(8)));
    let backend = RedisAdvancedBackend::new(config).unwrap();
    write_once(&backend).await;
    let primary = set.primary_port().expect("the sentinels name a primary");
    let timers = keepalive_timers(primary);
    assert!(!timers.is_empty(), "a connection to the primary");
    for timer in timers {
        let next_probe = timer.expect("the keepalive timer is armed on the connection to the primary");
        assert!(next_probe > 0.0 && next_probe <= 8.0, "{next_probe}");
    }
}

#[tokio::test]
async fn keepalive_from_dogpiles_arguments_flat_or_in_connection_kwargs() {
    dogpile_redis::register();
    let flat = RedisServer::start();
    let nested = RedisServer::start();
    let flat_args = Arguments::new()
        .with("url", flat.url())
        .with("socket_keepalive", true)
        .with("socket_keepalive_options", Arguments::new().with("TCP_KEEPIDLE", 5).with("TCP_KEEPCNT", 2));
    // redis-py's dictionary has the socket constants as keys: 4 is TCP_KEEPIDLE on Linux.
    let kwargs = Arguments::new()
        .with("socket_keepalive", true)
        .with("socket_keepalive_options", Arguments::new().with("4", 9))
        .with("socket_timeout", 2.5);
    let nested_args = Arguments::new().with("url", nested.url()).with("connection_kwargs", kwargs);
    for (server, args, idle) in [(&flat, flat_args, 5.0), (&nested, nested_args, 9.0)] {
        let region = Region::builder().configure(dogpile_redis::ADVANCED, args).build().unwrap();
        region.set("k", &1).await.unwrap();
        let timers = keepalive_timers(server.port());
        assert_eq!(timers.len(), 1, "{timers:?}");
        let next_probe = timers[0].expect("the keepalive timer is armed");
        assert!(next_probe > 0.0 && next_probe <= idle, "within {idle} s: {next_probe}");
    }

    let bad = Arguments::new()
        .with("url", flat.url())
        .with("socket_keepalive", true)
        .with("socket_keepalive_options", Arguments::new().with("TCP_KEEPIDEL", 5));
    let err = Region::builder().configure(dogpile_redis::ADVANCED, bad).build().unwrap_err();
    assert!(err.to_string().contains("socket_keepalive_options.TCP_KEEPIDEL"), "{err}");
}

#[tokio::test]
async fn a_client_of_the_callers_is_used_to_connect() {
    let server = RedisServer::start_with_password("pw-of-the-client");
    let client = redis::Client::open(format!("redis://:pw-of-the-client@127.0.0.1:{}/3", server.port())).unwrap();
    // The configuration's own address is not used: the client's is.
    let config = RedisConfig::from_url("redis://127.0.0.1:1/0").client(client);
    let shown = format!("{config:?}");
    assert!(shown.contains("a client") && !shown.contains("pw-of-the-client"), "{shown}");
    let backend = RedisAdvancedBackend::new(config).unwrap();
    write_once(&backend).await;
    let keys = server.must(&["INFO", "keyspace"]).as_text().unwrap_or_default();
    assert!(keys.contains("db3:keys=1"), "the client's database 3 holds the value: {keys}");

    let sentinels = RedisConfig::new()
        .sentinel(["127.0.0.1:1"], "mymaster")
        .unwrap()
        .client(redis::Client::open(server.url()).unwrap());
    let err = RedisAdvancedBackend::new(sentinels).unwrap_err();
    assert!(err.to_string().contains("one server"), "{err}");
}

#[tokio::test]
async fn a_connection_of_the_callers_is_shared() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let connection = client.get_connection_manager().await.unwrap();
    let backend = RedisAdvancedBackend::new(RedisConfig::new().connection(connection)).unwrap();
    for _ in 0..5 {
        write_once(&backend).await;
    }
    // The caller's connection and the harness's own: the backend opened none.
    let clients = server.must(&["CLIENT", "LIST"]).as_text().unwrap_or_default();
    assert_eq!(clients.lines().count(), 2, "{clients}");

    // Key tracking needs connections of its own, which a connection cannot give.
    let connection = client.get_connection_manager().await.unwrap();
    let shared = RedisAdvancedBackend::new(RedisConfig::new().connection(connection)).unwrap();
    let err = shared.shared_invalidation("users").await.unwrap_err();
    assert!(err.to_string().contains("RedisConfig::client"), "{err}");
    let err = shared.with_l1(L1Backend::builder().capacity(10)).unwrap_err();
    assert!(err.to_string().contains("RedisConfig::client"), "{err}");
}

#[cfg(feature = "tracing")]
#[tokio::test]
async fn arguments_nobody_reads_are_warned_of_once_and_dogpiles_are_read() {
    use dogpile_testing::trace::Capture;

    dogpile_redis::register();
    let server = RedisServer::start();
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let args = Arguments::new()
        .with("url", server.url())
        .with("distributed_lock", true)
        .with("thread_local_lock", false)
        .with("redis_expiration_time", 60)
        .with("redis_expiraton_time", 60)
        .with("connection_kwargs", Arguments::new().with("socket_timeout", 1).with("retry_on_timeout", true))
        .with("serializer", "json");
    let region = Region::builder().configure(dogpile_redis::HSTORE, args.clone()).build().unwrap();
    region.set("k", &1).await.unwrap();
    let events = capture.take();
    let mut warned: Vec<&String> = events.iter().filter(|e| e.contains("level=WARN")).collect();
    warned.sort();
    assert_eq!(warned.len(), 2, "{events:#?}");
    assert!(warned.iter().any(|e| e.contains("argument=connection_kwargs.retry_on_timeout")), "{warned:#?}");
    assert!(warned.iter().any(|e| e.contains("argument=redis_expiraton_time")), "{warned:#?}");
    Region::builder().configure(dogpile_redis::HSTORE, args).build().unwrap();
    assert!(!capture.take().iter().any(|e| e.contains("level=WARN")), "once per process");
}
