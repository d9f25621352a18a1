//! Valkey: the harness's server is Valkey 9, the Valkey names of dogpile.cache's pattern are
//! registered, and dogpile.cache's Valkey spelling of the server TTL takes effect. (The
//! conformance suites run on Valkey in `conformance.rs`; Python's `dogpile.cache.valkey`
//! shares its cache with ours in `python_interop.rs`.)

mod support;

use dogpile::config::Arguments;
use dogpile::registry;
use dogpile::{CacheKey, Region};
use dogpile_testing::RedisServer;
use dogpile_testing::server::Reply;

#[test]
fn the_valkey_tests_run_on_valkey_9() {
    let server = RedisServer::start_valkey();
    let info = server.must(&["INFO", "server"]).as_text().unwrap_or_default();
    assert!(info.contains("valkey_version:9."), "{info}");
}

#[test]
fn valkey_names_are_registered_with_their_deployment() {
    dogpile_redis::register();
    let names = registry::registered_backends();
    for (name, _, _) in dogpile_redis::VALKEY_BACKEND_NAMES {
        assert!(names.contains(&name.to_string()), "{name} is not registered");
    }
    let args = Arguments::new().with("url", "redis://127.0.0.1:1/0");
    let valkey = Region::builder().configure("dogpile.cache.valkey", args.clone()).build().unwrap();
    let redis = Region::builder().configure("dogpile.cache.redis", args.clone()).build().unwrap();
    assert_eq!(valkey.codec(), redis.codec(), "dogpile.cache.valkey is dogpile.cache.redis's deployment");
    let ours = Region::builder().configure("valkey_advanced", args).build().unwrap();
    assert_eq!(ours.codec(), &dogpile::codec::Codec::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valkey_expiration_time_sets_the_server_ttl() {
    dogpile_redis::register();
    let server = RedisServer::start_valkey();
    let cases =
        [("dogpile.cache.valkey", CacheKey::from("k"), "k"), ("valkey_advanced_hstore", CacheKey::hash("h", "f"), "h")];
    for (name, key, stored) in cases {
        let args = Arguments::new().with("url", server.url()).with("valkey_expiration_time", 60);
        let region = Region::builder().configure(name, args).build().unwrap();
        region.set(key, &1u8).await.unwrap();
        match server.must(&["TTL", stored]) {
            Reply::Int(ttl) => assert!((1..=60).contains(&ttl), "{name}: TTL {ttl}"),
            other => panic!("{name}: TTL {other:?}"),
        }
    }
}

#[test]
fn both_spellings_of_one_setting_are_refused() {
    dogpile_redis::register();
    let args = Arguments::new()
        .with("url", "redis://127.0.0.1:1/0")
        .with("valkey_expiration_time", 60)
        .with("redis_expiration_time", 30);
    let err = Region::builder().configure("dogpile.cache.valkey", args).build().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("valkey_expiration_time") && text.contains("redis_expiration_time"), "{text}");
}
