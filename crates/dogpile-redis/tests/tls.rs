//! `rediss://`: TLS to a redis-server with a certificate made for the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use dogpile::Region;
use dogpile_redis::{RedisAdvancedHstoreBackend, RedisConfig};
use dogpile_testing::RedisServer;
use dogpile_testing::server::free_port;

/// A CA and a server certificate for 127.0.0.1, made with the `openssl` command.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap_or_else(|e| {
            panic!("openssl is needed for the TLS test ({e}); install it with `apt-get install openssl`")
        });
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=dogpile test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (dir.join("ca.crt"), dir.join("server.crt"), dir.join("server.key"))
}

#[tokio::test]
async fn rediss_with_a_trusted_ca() {
    let dir = std::env::temp_dir().join(format!("dogpile-tls-{}", std::process::id()));
    let (ca, cert, key) = certificates(&dir);
    let tls_port = free_port().to_string();
    let (ca_s, cert_s, key_s) = (ca.to_string_lossy(), cert.to_string_lossy(), key.to_string_lossy());
    let server = RedisServer::start_with(
        Path::new(&std::env::var("DOGPILE_REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into())),
        &[
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            &cert_s,
            "--tls-key-file",
            &key_s,
            "--tls-ca-cert-file",
            &ca_s,
            "--tls-auth-clients",
            "no",
        ],
    );
    let url = format!("rediss://:secret-pw@127.0.0.1:{tls_port}/0");
    server.must(&["CONFIG", "SET", "requirepass", "secret-pw"]);

    let trusted =
        RedisConfig::from_url(&url).tls_root_certificate(&ca).redis_expiration_time(std::time::Duration::from_secs(60));
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
    let _ = std::fs::remove_dir_all(&dir);
}
