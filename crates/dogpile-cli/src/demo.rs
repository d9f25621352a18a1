//! `dogpile demo`: a cache stampede, with and without the dogpile lock.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dogpile::Region;

use crate::duration;
use crate::stats::{Latencies, human, thousands};

/// Options of `dogpile demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Concurrent callers.
    #[arg(long, default_value_t = 1000)]
    callers: usize,
    /// How long each run lasts (e.g. 3s, 1500ms).
    #[arg(long, default_value = "3s", value_parser = duration::parse)]
    duration: Duration,
    /// Distinct keys the callers read.
    #[arg(long, default_value_t = 10)]
    keys: usize,
    /// Expiration time of every value.
    #[arg(long, default_value = "300ms", value_parser = duration::parse)]
    ttl: Duration,
    /// How long one creator run takes (the "database query").
    #[arg(long, default_value = "30ms", value_parser = duration::parse)]
    creator_time: Duration,
    /// Skip the comparison run without the lock.
    #[arg(long)]
    no_compare: bool,
    /// Redis URL: run against Redis instead of the embedded memory backend.
    #[arg(long)]
    url: Option<String>,
}

/// What one run measured.
#[derive(Debug)]
struct RunResult {
    calls: u64,
    creator_runs: u64,
    stale: u64,
    waits: u64,
    latencies: Latencies,
}

pub fn run(args: DemoArgs) -> Result<(), String> {
    if let Some(url) = &args.url {
        return Err(format!(
            "--url {}: this build has no Redis backend yet; run `dogpile demo` without --url for the embedded memory backend",
            dogpile::registry::redact_url(url)
        ));
    }
    if args.callers == 0 || args.keys == 0 {
        return Err("--callers and --keys must be at least 1".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    println!(
        "dogpile demo: {} callers, {} keys expiring every {}, creator takes {}, {} per run (memory backend)",
        args.callers,
        args.keys,
        human(args.ttl),
        human(args.creator_time),
        human(args.duration),
    );
    let mut with = runtime.block_on(run_once(&args, true))?;
    let mut without = if args.no_compare { None } else { Some(runtime.block_on(run_once(&args, false))?) };
    println!();
    report(&mut with, without.as_mut());
    Ok(())
}

async fn run_once(args: &DemoArgs, with_lock: bool) -> Result<RunResult, String> {
    let label = if with_lock { "with the dogpile lock" } else { "without it (get, then create and set on a miss)" };
    let region = Region::builder().expiration_time(args.ttl).build().map_err(|e| e.to_string())?;
    let keys: Arc<Vec<String>> = Arc::new((0..args.keys).map(|i| format!("demo:key:{i}")).collect());
    let calls = Arc::new(AtomicU64::new(0));
    let runs = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + args.duration;

    let done = Arc::new(AtomicBool::new(false));
    let progress = tokio::spawn({
        let (calls, runs, done, total) = (calls.clone(), runs.clone(), done.clone(), args.duration);
        async move {
            // On a terminal one line redrawn in place; elsewhere one line a second.
            let tty = std::io::stderr().is_terminal();
            let (end, every) = if tty { ("\r", 200) } else { ("\n", 1000) };
            tokio::time::sleep(Duration::from_millis(every)).await;
            while !done.load(Ordering::Relaxed) {
                eprint!(
                    "  {label}: {:>4.1}s / {:.1}s  calls {:>11}  creator runs {:>7}  {end}",
                    started.elapsed().as_secs_f64().min(total.as_secs_f64()),
                    total.as_secs_f64(),
                    thousands(calls.load(Ordering::Relaxed)),
                    thousands(runs.load(Ordering::Relaxed)),
                );
                let _ = std::io::stderr().flush();
                tokio::time::sleep(Duration::from_millis(every)).await;
            }
            if tty {
                eprint!("\r\x1b[K");
            }
        }
    });

    let mut tasks = Vec::with_capacity(args.callers);
    for caller in 0..args.callers {
        let (region, keys, calls, runs, creator_time) =
            (region.clone(), keys.clone(), calls.clone(), runs.clone(), args.creator_time);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Latencies::default();
            let mut i = caller;
            while Instant::now() < deadline {
                let key = &keys[i % keys.len()];
                i += 1;
                let creator = || async {
                    let run = runs.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(creator_time).await;
                    Ok::<_, std::io::Error>(format!("{key} #{run}"))
                };
                let t0 = Instant::now();
                if with_lock {
                    region.get_or_create::<String, _, _, _>(key.as_str(), creator).await?;
                } else if region.get::<String>(key.as_str()).await?.is_none() {
                    let value = creator().await.map_err(|e| dogpile::Error::Creator { key: None, source: e.into() })?;
                    region.set(key.as_str(), &value).await?;
                }
                latencies.record(t0.elapsed());
                calls.fetch_add(1, Ordering::Relaxed);
                // A request handler gives the runtime back between requests; without this, a
                // caller whose reads never wait would hold a worker thread for the whole run.
                tokio::task::yield_now().await;
            }
            Ok::<_, dogpile::Error>(latencies)
        }));
    }
    let mut latencies = Latencies::default();
    for task in tasks {
        let part = task.await.map_err(|e| format!("a caller failed: {e}"))?.map_err(|e| e.to_string())?;
        latencies.merge(part);
    }
    done.store(true, Ordering::Relaxed);
    let _ = progress.await;
    let stats = region.stats();
    Ok(RunResult {
        calls: calls.load(Ordering::Relaxed),
        creator_runs: runs.load(Ordering::Relaxed),
        stale: stats.stale,
        waits: stats.waits,
        latencies,
    })
}

fn report(with: &mut RunResult, mut without: Option<&mut RunResult>) {
    let dash = "-".to_string();
    let (without_calls, without_runs, without_p50, without_p99, without_p999) = match without.as_deref_mut() {
        Some(w) => {
            let l = &mut w.latencies;
            let (p50, p99, p999) = (l.percentile(50.0), l.percentile(99.0), l.percentile(99.9));
            (thousands(w.calls), thousands(w.creator_runs), human(p50), human(p99), human(p999))
        }
        None => (dash.clone(), dash.clone(), dash.clone(), dash.clone(), dash.clone()),
    };
    let rows = [
        ("calls", thousands(with.calls), without_calls),
        ("creator runs", thousands(with.creator_runs), without_runs),
        ("stale serves", thousands(with.stale), dash.clone()),
        ("waits", thousands(with.waits), dash.clone()),
        ("p50 latency", human(with.latencies.percentile(50.0)), without_p50),
        ("p99 latency", human(with.latencies.percentile(99.0)), without_p99),
        ("p99.9 latency", human(with.latencies.percentile(99.9)), without_p999),
    ];
    println!("{:<14} {:>22} {:>22}", "", "with dogpile lock", "without");
    for (name, a, b) in rows {
        println!("{name:<14} {a:>22} {b:>22}");
    }
    println!();
    match without {
        Some(w) if w.creator_runs > with.creator_runs => {
            let ratio = w.creator_runs as f64 / with.creator_runs.max(1) as f64;
            println!(
                "The dogpile lock saved {} creator runs: {} with it instead of {} without ({ratio:.1}x fewer).",
                thousands(w.creator_runs - with.creator_runs),
                thousands(with.creator_runs),
                thousands(w.creator_runs),
            );
        }
        Some(w) => println!(
            "The dogpile lock saved no creator runs here ({} with it, {} without): try more callers or a longer creator time.",
            thousands(with.creator_runs),
            thousands(w.creator_runs)
        ),
        None => println!("Creator runs with the dogpile lock: {} (comparison skipped).", thousands(with.creator_runs)),
    }
}
