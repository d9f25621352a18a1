//! What every bench measurement shares: the value the workloads read and write, an operation
//! as a closure, a measured row, and running an operation from many tasks.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dogpile::Region;
use dogpile::codec::Codec;
use serde::{Deserialize, Serialize};

use crate::stats::Latencies;

/// Rounds per workload; each layer runs `duration / ROUNDS` per round. The ratio to the raw
/// twin is the median of the rounds' ratios ([`PairedRatio`](crate::stats::PairedRatio)).
pub(crate) const ROUNDS: usize = 8;

/// The small value every single-key workload reads and writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Small {
    id: u64,
    name: String,
    score: f64,
}

pub(crate) fn small(id: u64) -> Small {
    Small { id, name: format!("row {id}"), score: 0.5 }
}

pub(crate) type OpFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
pub(crate) type Op = Arc<dyn Fn() -> OpFuture + Send + Sync>;

/// One measured row.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    pub(crate) workload: &'static str,
    pub(crate) layer: &'static str,
    pub(crate) ops_per_s: f64,
    pub(crate) keys_per_s: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) p999_us: f64,
    pub(crate) max_us: f64,
    pub(crate) round_trips_per_op: f64,
    pub(crate) commands_per_op: f64,
    /// Bytes on the wire per operation, both ways.
    pub(crate) bytes_per_op: f64,
    /// The server's CPU time (system and user) per 1,000 operations, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_cpu_ms_per_1000: Option<f64>,
    /// This process's CPU time (every thread, system and user) per 1,000 operations, in
    /// milliseconds: the client's side of the cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_cpu_ms_per_1000: Option<f64>,
    pub(crate) tasks: usize,
    pub(crate) keys_per_op: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ratio_to_raw: Option<f64>,
}

pub(crate) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `get_or_create` of `bench:small`, which must be a hit.
pub(crate) fn get_or_create_hit(region: Region) -> Op {
    get_or_create_hit_at(region, "bench:small")
}

/// A `get_or_create` hit on `key`.
pub(crate) fn get_or_create_hit_at(region: Region, key: &'static str) -> Op {
    Arc::new(move || {
        let region = region.clone();
        Box::pin(async move {
            let _: Small =
                region.get_or_create(key, || async { Err::<Small, _>("a hit must not create") }).await.map_err(err)?;
            Ok(())
        })
    })
}

/// The raw twins decode what they read, with the same codec, as a user of the redis crate
/// decodes their values: the ratio is then the cost of the region and the backend alone.
pub(crate) fn raw_decode(codec: &Codec, bytes: &[u8]) -> Result<Small, String> {
    codec.decode::<Small>(bytes, 0.0).map(|v| v.payload).map_err(|e| e.to_string())
}

/// Decodes every value read, and checks that `expected` were found.
pub(crate) fn decode_all<'a>(
    codec: &Codec,
    values: impl Iterator<Item = &'a Option<Vec<u8>>>,
    expected: usize,
) -> Result<(), String> {
    let mut found = 0;
    for bytes in values.flatten() {
        raw_decode(codec, bytes)?;
        found += 1;
    }
    (found == expected).then_some(()).ok_or_else(|| format!("{found} of {expected} keys"))
}

/// Runs `op` from `tasks` tasks for `duration`.
pub(crate) async fn throughput(
    op: &Op,
    tasks: usize,
    duration: Duration,
) -> Result<(u64, Latencies, Duration), String> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let op = Arc::clone(op);
        handles.push(tokio::spawn(async move {
            let mut latencies = Latencies::default();
            let mut ops = 0u64;
            // One clock read per operation: its end is the next one's start (the recording
            // between them is part of no layer, and costs both the same).
            let mut started = Instant::now();
            while started < deadline {
                op().await?;
                let ended = Instant::now();
                latencies.record(ended - started);
                started = ended;
                ops += 1;
            }
            Ok::<_, String>((ops, latencies))
        }));
    }
    let mut total = 0;
    let mut latencies = Latencies::default();
    for handle in handles {
        let (ops, part) = handle.await.map_err(err)??;
        total += ops;
        latencies.merge(part);
    }
    Ok((total, latencies, started.elapsed()))
}
