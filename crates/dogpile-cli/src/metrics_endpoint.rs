//! `dogpile demo --metrics ADDR`: the regions' metrics in Prometheus's text format at
//! `http://ADDR/metrics`, rendered by metrics-exporter-prometheus and answered by a small
//! HTTP/1.1 responder (one request per connection), which keeps a full HTTP server stack out
//! of the tool for one read-only page.

use std::net::SocketAddr;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The longest request head read before answering.
const MAX_HEAD: usize = 8 * 1024;

/// Installs the Prometheus recorder (before any region is built: regions take their metric
/// handles from it) and serves what it renders at `addr` on `runtime`.
pub fn serve(runtime: &tokio::runtime::Runtime, addr: SocketAddr) -> Result<(), String> {
    let listener =
        runtime.block_on(TcpListener::bind(addr)).map_err(|e| format!("cannot serve metrics at {addr}: {e}"))?;
    let handle = PrometheusBuilder::new().install_recorder().map_err(|e| format!("cannot record metrics: {e}"))?;
    let upkeep = handle.clone();
    runtime.spawn(async move {
        // Histograms are drained into their summaries here, as the exporter's own server does.
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    runtime.spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let handle = handle.clone();
                    tokio::spawn(async move {
                        let _ = answer(stream, &handle).await;
                    });
                }
                // Out of file descriptors, say: try again a little later.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    Ok(())
}

async fn answer(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let (status, body) = if head.starts_with(b"GET /metrics ") || head.starts_with(b"GET /metrics?") {
        ("200 OK", handle.render())
    } else {
        ("404 Not Found", "the metrics are at /metrics\n".to_string())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
