//! The counting proxy's network faults, seen by a raw TCP client of a real redis-server.

use std::time::Duration;

use dogpile_testing::server::RedisServer;
use dogpile_testing::{CountingProxy, NetFault};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

async fn connect(proxy: &CountingProxy) -> TcpStream {
    TcpStream::connect(proxy.addr_string()).await.expect("the proxy accepts")
}

/// Sends a PING and reads `+PONG\r\n` within `within`; `None` when nothing came.
async fn ping(conn: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    conn.write_all(PING).await.ok()?;
    let mut reply = vec![0u8; 7];
    match timeout(within, conn.read_exact(&mut reply)).await {
        Ok(Ok(_)) => Some(reply),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_each_way() {
    let server = RedisServer::start();
    let proxy = CountingProxy::start(server.addr()).await;
    let mut conn = connect(&proxy).await;
    assert_eq!(ping(&mut conn, Duration::from_secs(5)).await.as_deref(), Some(&b"+PONG\r\n"[..]));
    proxy.fault(Some(NetFault::Latency(Duration::from_millis(50))));
    let sent = Instant::now();
    assert_eq!(ping(&mut conn, Duration::from_secs(5)).await.as_deref(), Some(&b"+PONG\r\n"[..]));
    let took = sent.elapsed();
    assert!(took >= Duration::from_millis(100), "a round trip through 50 ms each way took {took:?}");
    proxy.fault(None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackhole_keeps_its_connections_silent_and_open_for_good() {
    let server = RedisServer::start();
    let proxy = CountingProxy::start(server.addr()).await;
    let mut before = connect(&proxy).await;
    assert!(ping(&mut before, Duration::from_secs(5)).await.is_some());
    proxy.fault(Some(NetFault::Blackhole));
    assert_eq!(ping(&mut before, Duration::from_millis(300)).await, None, "a reply came out of the blackhole");
    let mut during = connect(&proxy).await;
    assert_eq!(ping(&mut during, Duration::from_millis(300)).await, None);
    proxy.fault(None);
    // Neither was closed, and neither ever answers; a new connection does.
    for conn in [&mut before, &mut during] {
        let mut byte = [0u8; 1];
        let read = timeout(Duration::from_millis(300), conn.read(&mut byte)).await;
        assert!(read.is_err(), "a blackholed connection was closed or answered: {read:?}");
    }
    let mut after = connect(&proxy).await;
    assert_eq!(ping(&mut after, Duration::from_secs(5)).await.as_deref(), Some(&b"+PONG\r\n"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_cuts_a_reply_and_resets_the_connection() {
    let server = RedisServer::start();
    server.must(&["SET", "big", &"x".repeat(10_000)]);
    let proxy = CountingProxy::start(server.addr()).await;
    let mut conn = connect(&proxy).await;
    assert!(ping(&mut conn, Duration::from_secs(5)).await.is_some());
    proxy.fault(Some(NetFault::Reset));
    conn.write_all(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n").await.unwrap();
    let mut got = Vec::new();
    let end = timeout(Duration::from_secs(5), conn.read_to_end(&mut got)).await.expect("the connection ends");
    let err = end.expect_err("the connection is reset, not closed");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    assert!(got.len() < 10_000, "the whole reply came through ({} bytes)", got.len());
    proxy.fault(None);
    let mut after = connect(&proxy).await;
    assert!(ping(&mut after, Duration::from_secs(5)).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_trickles_the_replies() {
    let server = RedisServer::start();
    server.must(&["SET", "big", &"x".repeat(20_000)]);
    let proxy = CountingProxy::start(server.addr()).await;
    // A read already waiting keeps its size: the fault comes first, so every read is slow.
    proxy.fault(Some(NetFault::SlowReader { bytes_per_second: 50_000 }));
    let mut conn = connect(&proxy).await;
    conn.write_all(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n").await.unwrap();
    let sent = Instant::now();
    let mut reply = vec![0u8; 20_000 + "$20000\r\n\r\n".len()];
    timeout(Duration::from_secs(10), conn.read_exact(&mut reply)).await.expect("the reply comes").unwrap();
    let took = sent.elapsed();
    assert!(took >= Duration::from_millis(300), "20 kB at 50 kB/s came in {took:?}");
    assert!(reply.ends_with(b"xx\r\n"), "the reply is whole");
    proxy.fault(None);
}
