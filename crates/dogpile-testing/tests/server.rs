//! The redis-server harness itself.

use std::path::Path;

use dogpile_testing::server::{RedisServer, Reply};

#[test]
fn starts_answers_and_stops() {
    let server = RedisServer::start();
    assert_ne!(server.port(), 6379, "tests never use the machine's shared Redis");
    assert_eq!(server.must(&["SET", "k", "v"]), Reply::Status("OK".into()));
    assert_eq!(server.must(&["GET", "k"]), Reply::Bulk(Some(b"v".to_vec())));
    assert_eq!(server.must(&["GET", "missing"]), Reply::Bulk(None));
    assert_eq!(
        server.must(&["CONFIG", "GET", "save"]),
        Reply::Array(Some(vec![Reply::Bulk(Some(b"save".to_vec())), Reply::Bulk(Some(Vec::new()))]))
    );
    assert!(server.log().contains("Ready to accept connections"), "{}", server.log());
    let addr = server.addr();
    drop(server);
    assert!(std::net::TcpStream::connect(addr).is_err(), "the server stops on drop");
}

#[test]
fn servers_are_private_to_each_test() {
    let (a, b) = (RedisServer::start(), RedisServer::start());
    assert_ne!(a.port(), b.port());
    a.must(&["SET", "only-in-a", "1"]);
    assert_eq!(b.must(&["EXISTS", "only-in-a"]), Reply::Int(0));
}

#[test]
#[should_panic(expected = "apt-get install redis-server")]
fn a_missing_binary_fails_with_an_install_hint() {
    RedisServer::start_with(Path::new("/nonexistent/redis-server"), &[]);
}
