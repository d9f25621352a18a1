//! The advanced backend: Redis-side expiry with the raw codec, faults, reconnection, secrets.

mod support;

use std::time::{Duration, Instant};

use dogpile::codec::{Codec, Envelope, Format};
use dogpile::config::Arguments;
use dogpile::{CacheKey, Error, Region};
use dogpile_redis::{RedisAdvancedBackend, RedisAdvancedHstoreBackend, RedisConfig};
use dogpile_testing::RedisServer;
use dogpile_testing::server::Reply;

fn region(config: RedisConfig, codec: Codec) -> Region {
    Region::builder().backend(RedisAdvancedBackend::new(config).unwrap()).codec(codec).build().unwrap()
}

#[tokio::test]
async fn raw_entries_expire_in_redis() {
    let server = RedisServer::start();
    let raw = Codec::new(Format::Msgpack, Envelope::Raw);
    let region = region(support::config(&server).redis_expiration_time(Duration::from_secs(1)), raw.clone());
    region.set("k", &"payload only").await.unwrap();
    assert_eq!(server.must(&["GET", "k"]), Reply::Bulk(Some(rmp_bytes("payload only"))), "only the payload is stored");
    match server.must(&["TTL", "k"]) {
        Reply::Int(s) => assert!((0..=1).contains(&s), "EX 1: {s}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(region.get::<String>("k").await.unwrap().as_deref(), Some("payload only"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while region.get::<String>("k").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "the entry outlived its Redis TTL");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let fractional = region_px(&server, raw);
    fractional.set("f", &1).await.unwrap();
    match server.must(&["PTTL", "f"]) {
        Reply::Int(ms) => assert!(ms > 0 && ms <= 1_500, "PX 1500: {ms}"),
        other => panic!("{other:?}"),
    }
}

fn region_px(server: &RedisServer, codec: Codec) -> Region {
    region(support::config(server).redis_expiration_time(Duration::from_millis(1_500)), codec)
}

fn rmp_bytes(s: &str) -> Vec<u8> {
    let mut out = vec![0xa0 | s.len() as u8];
    out.extend_from_slice(s.as_bytes());
    out
}

#[tokio::test]
async fn hash_keys_are_refused_by_the_advanced_backend() {
    let server = RedisServer::start();
    let region = region(support::config(&server), Codec::default());
    let err = region.set(("h", "f"), &1).await.unwrap_err();
    assert!(matches!(&err, Error::UnsupportedKey { backend: "dogpile_backend_redis_advanced", .. }), "{err:?}");
    assert_eq!(server.must(&["DBSIZE"]), Reply::Int(0));
}

#[tokio::test]
async fn redis_down_is_a_connection_error_without_the_password() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("redis://:hunter2@127.0.0.1:{port}/0");
    let backend =
        RedisAdvancedBackend::new(RedisConfig::from_url(&url).socket_connect_timeout(Duration::from_millis(500)))
            .unwrap();
    assert!(!format!("{backend:?}").contains("hunter2"));
    let region = Region::builder().backend(backend).build().unwrap();
    let started = Instant::now();
    let err = region.get::<u8>("k").await.unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    assert_eq!(err.key(), Some(&CacheKey::from("k")));
    assert!(started.elapsed() < Duration::from_secs(10), "failing took {:?}", started.elapsed());
    for shown in [err.to_string(), format!("{err:?}"), format!("{region:?}")] {
        assert!(!shown.contains("hunter2"), "{shown}");
    }
    let err = region.get_or_create("k", || async { Ok::<_, std::io::Error>(1u8) }).await.unwrap_err();
    assert!(err.is_connection());
}

#[tokio::test]
async fn the_connection_comes_back_after_the_server_dropped_it() {
    for blocking_io in [false, true] {
        let server = RedisServer::start();
        let region = region(support::config(&server).blocking_io(blocking_io), Codec::default());
        region.set("k", &1).await.unwrap();
        server.must(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match region.get::<i32>("k").await {
                Ok(v) => {
                    assert_eq!(v, Some(1));
                    break;
                }
                Err(err) => {
                    assert!(err.is_connection(), "only connection errors while reconnecting: {err:?}");
                    assert!(Instant::now() < deadline, "no reconnection within 10 s (blocking_io {blocking_io})");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// With `blocking_io`, a call is done within its first poll: it never waits for another task.
#[tokio::test]
async fn blocking_io_answers_within_the_first_poll() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let server = RedisServer::start();
    let polled_once = |backend: &RedisAdvancedBackend| {
        let key = CacheKey::from("k");
        let mut call = std::pin::pin!(dogpile::backend::Backend::get(backend, &key));
        matches!(call.as_mut().poll(&mut Context::from_waker(Waker::noop())), Poll::Ready(Ok(Some(_))))
    };
    let blocking = RedisAdvancedBackend::new(support::config(&server).blocking_io(true)).unwrap();
    let multiplexed = RedisAdvancedBackend::new(support::config(&server)).unwrap();
    dogpile::backend::Backend::set(&multiplexed, &CacheKey::from("k"), "v".into()).await.unwrap();
    dogpile::backend::Backend::get(&multiplexed, &CacheKey::from("k")).await.unwrap();
    assert!(polled_once(&blocking), "a blocking read is done when first polled");
    assert!(!polled_once(&multiplexed), "a multiplexed read waits for its connection's task");
}

/// A reply that comes after its command timed out is never taken for the next command's.
#[tokio::test]
async fn blocking_io_times_out_and_the_late_reply_is_not_the_next_ones() {
    let server = RedisServer::start();
    let config = support::config(&server).blocking_io(true).socket_timeout(Duration::from_millis(200));
    let region = region(config, Codec::default());
    region.set("first", &1).await.unwrap();
    region.set("second", &2).await.unwrap();
    server.must(&["CLIENT", "PAUSE", "600", "ALL"]);
    let started = Instant::now();
    let err = region.get::<i32>("first").await.unwrap_err();
    assert!(err.is_timeout() || err.is_connection(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(550),
        "the reply timeout bounds the call: {:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(region.get::<i32>("second").await.unwrap(), Some(2));
    assert_eq!(region.get::<i32>("first").await.unwrap(), Some(1));
}

#[tokio::test]
async fn configured_by_name_with_python_arguments() {
    dogpile_redis::register();
    let server = RedisServer::start();
    let args = Arguments::new()
        .with("host", "127.0.0.1")
        .with("port", i64::from(server.port()))
        .with("db", 1)
        .with("redis_expiration_time", 30)
        .with("serializer", "json")
        .with("envelope", "dogpile1")
        .with("socket_timeout", 5)
        .with("thread_local_lock", false)
        .with("connection_kwargs", Arguments::new());
    let region = Region::builder().configure("redis_advanced", args).build().unwrap();
    region.set("k", &vec![1, 2]).await.unwrap();
    let keyspace = server.must(&["INFO", "keyspace"]).as_text().unwrap_or_default();
    assert!(keyspace.contains("db1:keys=1") && !keyspace.contains("db0:"), "the value went to db 1: {keyspace}");
    assert_eq!(region.get::<Vec<i32>>("k").await.unwrap(), Some(vec![1, 2]));
    let err = Region::builder().configure("redis_advanced", Arguments::new().with("port", "six")).build().unwrap_err();
    assert!(err.to_string().contains("`port`"), "{err}");
}

/// Defect: the backend names of dogpile 1.x and plugin 0.5.0 were not registered. Each name
/// brings the deployment it implies: its codec and its lock names.
#[test]
fn python_backend_names_are_registered_with_their_deployment() {
    use dogpile::registry;

    dogpile_redis::register();
    let names = registry::registered_backends();
    for (name, _, _) in dogpile_redis::BACKEND_NAMES {
        assert!(names.contains(&name.to_string()), "{name} is not registered");
    }
    let args = Arguments::new().with("url", "redis://127.0.0.1:1/0");
    for (name, format, envelope, version) in [
        ("dogpile.cache.redis", Format::Pickle, Envelope::Dogpile1, 2),
        ("dogpile_backend_redis_advanced.hstore", Format::Pickle, Envelope::Dogpile1, 2),
        ("dogpile_backend_redis_advanced.already_serialized", Format::RawProxy, Envelope::Raw, 2),
        ("dogpile_backend_redis_advanced", Format::Msgpack, Envelope::Seed, 2),
    ] {
        let region = Region::builder().configure(name, args.clone()).build().unwrap();
        let codec = region.codec();
        assert_eq!((codec.format(), codec.envelope(), codec.value_version()), (&format, envelope, version), "{name}");
    }
    let hstore = RedisAdvancedHstoreBackend::from_arguments(
        &registry::arguments_for("dogpile_backend_redis_advanced.hstore", &args).unwrap(),
    )
    .unwrap();
    assert!(format!("{:?}", hstore.config()).contains("lock_prefix: \"_lok.\""));
    // An explicit argument overrides what the name implies.
    let region = Region::builder().configure("dogpile.cache.redis", args.with("serializer", "json")).build().unwrap();
    assert_eq!(region.codec().format(), &Format::Json);
}
