//! `rediss://`: TLS to a redis-server with a certificate made for the test.

use dogpile::Region;
use dogpile_redis::{RedisAdvancedHstoreBackend, RedisConfig};
use dogpile_testing::server::free_port;
use dogpile_testing::{RedisServer, ServerExt, TestCertificates};

#[tokio::test]
async fn rediss_with_a_trusted_ca() {
    let certs = TestCertificates::make();
    let tls_port = free_port();
    let args = certs.server_args(tls_port);
    let server = RedisServer::start_configured(&args.iter().map(String::as_str).collect::<Vec<_>>(), None);
    let url = format!("rediss://:secret-pw@127.0.0.1:{tls_port}/0");
    server.must(&["CONFIG", "SET", "requirepass", "secret-pw"]);

    let trusted = RedisConfig::from_url(&url)
        .tls_root_certificate(certs.ca())
        .redis_expiration_time(std::time::Duration::from_secs(60));
    let region = Region::builder().backend(RedisAdvancedHstoreBackend::new(trusted).unwrap()).build().unwrap();
    region.set(("h", "f"), &"over tls").await.unwrap();
    assert_eq!(region.get::<String>(("h", "f")).await.unwrap().as_deref(), Some("over tls"));

    // Without the test CA the server's certificate is not trusted: an error, never a panic,
    // and no password in it.
    let untrusted = Region::builder()
        .backend(RedisAdvancedHstoreBackend::new(RedisConfig::from_url(&url)).unwrap())
        .build()
        .unwrap();
    let err = untrusted.get::<String>("k").await.unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    assert!(!err.to_string().contains("secret-pw") && !format!("{err:?}").contains("secret-pw"), "{err}");
}

/// Sentinels and servers that speak only TLS to clients (the set's TLS ports), configured by
/// name with dogpile's `redis_sentinel` arguments: `sentinel_kwargs` and `connection_kwargs`
/// with redis-py's `ssl` and `ssl_ca_certs`. The backend follows a failover over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_sentinel_over_tls_through_a_failover() {
    use std::time::{Duration, Instant};

    use dogpile::config::Arguments;
    use dogpile_testing::RedisSentinelSet;

    dogpile_redis::register();
    let certs = TestCertificates::make();
    let mut set = RedisSentinelSet::start_tls(&certs);
    let ca = certs.ca().to_string_lossy().into_owned();
    let args = |sentinel_ssl: bool, server_ssl: bool, ca: Option<&str>| {
        let mut tls = Arguments::new().with("ssl", server_ssl);
        let mut sentinel_kwargs = Arguments::new().with("ssl", sentinel_ssl);
        if let Some(ca) = ca {
            tls = tls.with("ssl_ca_certs", ca);
            sentinel_kwargs = sentinel_kwargs.with("ssl_ca_certs", ca);
        }
        Arguments::new()
            .with("sentinels", set.sentinel_addrs().join(","))
            .with("service_name", dogpile_testing::sentinel::SERVICE)
            .with("sentinel_kwargs", sentinel_kwargs)
            .with("connection_kwargs", tls)
            .with("socket_timeout", 0.5)
            .with("socket_connect_timeout", 0.5)
            .with("redis_expiration_time", 60)
            .with("distributed_lock", true)
    };
    let region = |args: Arguments| Region::builder().configure(dogpile_redis::HSTORE_SENTINEL, args).build().unwrap();

    let tls = region(args(true, true, Some(&ca)));
    tls.set(("h", "f"), &"over tls").await.unwrap();
    let created = tls.get_or_create("k", || async { Ok::<_, std::io::Error>("made".to_owned()) }).await.unwrap();
    assert_eq!(created, "made");
    assert_eq!(tls.get::<String>(("h", "f")).await.unwrap().as_deref(), Some("over tls"));

    // Plain TCP to the sentinels' or the primary's TLS port, or TLS without the test CA: a
    // connection error, never a panic or a hang.
    for (sentinel_ssl, server_ssl, ca) in
        [(false, true, Some(ca.as_str())), (true, false, Some(&ca)), (true, true, None)]
    {
        let err = region(args(sentinel_ssl, server_ssl, ca)).get::<String>("k").await.unwrap_err();
        assert!(err.is_connection() || err.is_timeout(), "{sentinel_ssl} {server_ssl} {ca:?}: {err:?}");
    }

    // A failover: the promoted replica is found through the sentinels, over TLS.
    set.wait_until_failover_ready(Duration::from_secs(30));
    let old = set.kill_primary();
    let killed = Instant::now();
    let new = set.wait_for_new_primary(old, Duration::from_secs(30));
    loop {
        match tls.set("after", &1u8).await {
            Ok(()) => break,
            Err(err) => {
                assert!(err.is_connection() || err.is_timeout(), "{err:?}");
                assert!(killed.elapsed() < Duration::from_secs(30), "no write succeeded after the failover: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    eprintln!("sentinel over TLS: {old} -> {new}, writes succeed {:?} after the kill", killed.elapsed());
    let on_new = set.server_named(new).unwrap();
    assert_eq!(on_new.must(&["EXISTS", "after"]), dogpile_testing::server::Reply::Int(1));
    // The replicated hash survived on the new primary.
    assert_eq!(tls.get::<String>(("h", "f")).await.unwrap().as_deref(), Some("over tls"));
}
