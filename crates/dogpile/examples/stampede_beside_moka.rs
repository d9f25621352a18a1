//! A stampede on the memory region beside moka's async cache: 1,000 tasks read 10 keys for
//! 3 seconds; values expire after 300 ms and take 30 ms to create. moka makes every reader of
//! an expired key wait for its new value; the region serves the expired value to all but the
//! one caller that regenerates it. Three alternating rounds, each printing the latency
//! percentiles of every read and the number of creator calls.
//!
//! Run with `cargo run --release -p dogpile --example stampede_beside_moka`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dogpile::Region;

const TASKS: usize = 1_000;
const KEYS: usize = 10;
const EXPIRY: Duration = Duration::from_millis(300);
const CREATOR: Duration = Duration::from_millis(30);
const RUN: Duration = Duration::from_secs(3);
/// Each task's pause between reads: 1,000 tasks make about 100,000 reads a second.
const PAUSE: Duration = Duration::from_millis(10);

/// The value the creator makes: what a small row of a database query might be.
async fn create(key: usize, calls: &AtomicU64) -> Vec<u64> {
    calls.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(CREATOR).await;
    vec![key as u64; 8]
}

/// Runs `TASKS` readers of `read` for `RUN`: every read's latency in microseconds.
async fn stampede<F, Fut>(read: F) -> Vec<u64>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<u64>> + Send,
{
    let read = Arc::new(read);
    let until = Instant::now() + RUN;
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let read = read.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = task;
                while Instant::now() < until {
                    let started = Instant::now();
                    let value = read(i % KEYS).await;
                    latencies.push(started.elapsed().as_micros() as u64);
                    assert_eq!(value[0], (i % KEYS) as u64);
                    i += 1;
                    tokio::time::sleep(PAUSE).await;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("a reader task panicked"));
    }
    all.sort_unstable();
    all
}

/// The `p` quantile of `sorted` microseconds (0 for none).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or(0)
}

fn report(name: &str, round: usize, latencies: &[u64], calls: u64) {
    println!(
        "| {round} | {name} | {} | {} | {} | {} | {} | {calls} |",
        latencies.len(),
        percentile(latencies, 0.50),
        percentile(latencies, 0.99),
        percentile(latencies, 0.999),
        percentile(latencies, 1.0),
    );
}

#[tokio::main]
async fn main() -> dogpile::Result<()> {
    println!("| round | cache | reads | p50 µs | p99 µs | p99.9 µs | max µs | creator calls |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    for round in 1..=3 {
        let region = Region::builder().expiration_time(EXPIRY).build()?;
        let calls = Arc::new(AtomicU64::new(0));
        let (r, c) = (region.clone(), calls.clone());
        let latencies = stampede(move |key| {
            let (region, calls) = (r.clone(), c.clone());
            async move {
                region
                    .get_or_create(format!("key:{key}"), || async {
                        Ok::<_, std::io::Error>(create(key, &calls).await)
                    })
                    .await
                    .expect("the memory region does not fail")
            }
        })
        .await;
        report("dogpile region (memory)", round, &latencies, calls.load(Ordering::Relaxed));

        let moka: moka::future::Cache<String, Vec<u64>> = moka::future::Cache::builder().time_to_live(EXPIRY).build();
        let calls = Arc::new(AtomicU64::new(0));
        let (m, c) = (moka.clone(), calls.clone());
        let latencies = stampede(move |key| {
            let (moka, calls) = (m.clone(), c.clone());
            async move { moka.get_with(format!("key:{key}"), async { create(key, &calls).await }).await }
        })
        .await;
        report("moka 0.12 future::Cache get_with", round, &latencies, calls.load(Ordering::Relaxed));
    }
    Ok(())
}
