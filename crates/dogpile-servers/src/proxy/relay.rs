//! One proxied connection: the bytes each way, counted, and broken as the fault under way
//! says.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Faults, NetFault};

/// What the relays of one proxy share, and the connection's mark of when it opened.
pub(super) struct Shared {
    pub(super) round_trips: Arc<AtomicUsize>,
    /// Bytes relayed, both ways.
    pub(super) bytes: Arc<AtomicUsize>,
    pub(super) faults: Arc<Faults>,
    pub(super) mark: (usize, bool),
}

/// Which way bytes go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    /// Client to server: requests.
    Up,
    /// Server to client: replies.
    Down,
}

/// Bytes read, to be written at `at`; `cut`: write their first half, then reset.
struct Chunk {
    at: Instant,
    bytes: Vec<u8>,
    cut: bool,
}

/// The slow reader's step: it reads its share of a second's bytes, then waits this long.
const SLOW_STEP: Duration = Duration::from_millis(10);

/// Reads what a client whose server never answered sends, and drops it, until it closes: a
/// connection into a blackhole.
pub(super) async fn swallow(mut client: TcpStream) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = client.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// Relays between `client` and `server` until either side closes or a reset cuts it.
pub(super) async fn relay(client: TcpStream, server: TcpStream, shared: Shared) {
    let server_spoke_last = AtomicBool::new(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pass(client_read, server_write, Way::Up, &shared, &server_spoke_last);
    let down = pass(server_read, client_write, Way::Down, &shared, &server_spoke_last);
    // The first way to end ends the connection: both sockets are dropped here.
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

/// One way of the connection: a reader that queues what it reads, stamped with when it may
/// be written, and a writer that writes it then.
async fn pass(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, way: Way, shared: &Shared, spoke: &AtomicBool) {
    let (queue, mut queued) = mpsc::channel::<Chunk>(1024);
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // The slow reader's limit applies to the next read; the rest to what it read.
            let limit = match shared.faults.current() {
                Some(NetFault::SlowReader { bytes_per_second }) if way == Way::Down => {
                    (bytes_per_second / 100).clamp(1, buf.len())
                }
                _ => buf.len(),
            };
            let n = match from.read(&mut buf[..limit]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            shared.bytes.fetch_add(n, Ordering::Relaxed);
            match way {
                Way::Up if spoke.swap(false, Ordering::SeqCst) => {
                    shared.round_trips.fetch_add(1, Ordering::SeqCst);
                }
                Way::Up => {}
                Way::Down => spoke.store(true, Ordering::SeqCst),
            }
            let (fault, now) = (shared.faults.current(), Instant::now());
            let chunk = match fault {
                Some(NetFault::Latency(delay)) => Chunk { at: now + delay, bytes: buf[..n].to_vec(), cut: false },
                Some(NetFault::Reset) => Chunk { at: now, bytes: buf[..n].to_vec(), cut: way == Way::Down },
                _ => Chunk { at: now, bytes: buf[..n].to_vec(), cut: false },
            };
            if queue.send(chunk).await.is_err() {
                break;
            }
            if matches!(fault, Some(NetFault::SlowReader { .. })) && way == Way::Down {
                tokio::time::sleep(SLOW_STEP).await;
            }
        }
    };
    let writer = async move {
        while let Some(chunk) = queued.recv().await {
            tokio::time::sleep_until(chunk.at).await;
            if shared.faults.swallowed(shared.mark) {
                continue;
            }
            let keep = if chunk.cut { chunk.bytes.len() / 2 } else { chunk.bytes.len() };
            if to.write_all(&chunk.bytes[..keep]).await.is_err() {
                return;
            }
            if chunk.cut {
                // Closed with no lingering and no shutdown of the write half first: the peer
                // gets an RST, not a FIN.
                let _ = to.as_ref().set_zero_linger();
                to.forget();
                return;
            }
        }
    };
    // The reader ends on EOF, then the writer once the queue is written; a cut or a failed
    // write ends the way at once.
    tokio::pin!(writer);
    tokio::select! {
        () = reader => (&mut writer).await,
        () = &mut writer => {}
    }
}
