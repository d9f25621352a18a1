//! `dogpile demo`: a cache stampede, with and without the dogpile lock.
//!
//! On the embedded memory backend by default; with `--url` (or `--cluster`, `--sentinels`,
//! `--spawn-cluster`), on Redis (the hstore backend with
//! the distributed lock), optionally from several processes at once (`--processes N` runs N
//! copies of this command and adds up what they saw).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dogpile::region::{CreateOptions, Outcome};
use dogpile::{CacheKey, Region};
use dogpile_redis::{RedisAdvancedHstoreBackend, RedisConfig};

use crate::duration;
use crate::progress::Progress;
use crate::stats::{Latencies, human, thousands};

/// The Redis hash that holds the demo's values.
const DEMO_HASH: &str = "dogpile:demo";

/// Options of `dogpile demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Concurrent callers (per process).
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
    /// Redis URL: run on Redis (hstore backend, distributed lock) instead of in memory.
    #[arg(long)]
    url: Option<String>,
    /// Redis Cluster startup nodes (`host:port,host:port`) instead of --url.
    #[arg(long, value_delimiter = ',')]
    cluster: Vec<String>,
    /// Start a private Redis Cluster (3 primaries) for the run.
    #[arg(long)]
    spawn_cluster: bool,
    /// Sentinels (`host:port,host:port`) that name the primary, instead of --url.
    #[arg(long, value_delimiter = ',')]
    sentinels: Vec<String>,
    /// The service the sentinels watch.
    #[arg(long, default_value = "mymaster")]
    service_name: String,
    /// Processes sharing the Redis; the demo runs this many copies of itself.
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// The distributed lock's TTL in Redis (with --url); a holder extends it while it creates.
    #[arg(long, value_parser = duration::parse)]
    lock_timeout: Option<Duration>,
    /// What to show: the stampede (default), or a resilience option against plain
    /// get_or_create (early-refresh, fail-safe, fail-open; on the memory backend, fail-open on
    /// a private redis-server that is killed and restarted).
    #[arg(long, value_enum, default_value = "stampede")]
    scenario: crate::scenarios::Scenario,
    /// Serve the regions' metrics in Prometheus's text format at http://ADDR/metrics while
    /// the demo runs (e.g. 127.0.0.1:9000).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    /// Internal: run one phase as a child process and print its figures.
    #[arg(long, hide = true)]
    phase: Option<Phase>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Phase {
    With,
    Without,
}

/// What one run measured (summed over processes).
#[derive(Debug, Default)]
struct RunResult {
    calls: u64,
    creator_runs: u64,
    stale: u64,
    waits: u64,
    /// p50, p99, p99.9 and the longest; over several processes, the worst process's.
    percentiles: [Duration; 4],
    /// The p99.9 of the calls that waited for another caller's creation (the worst process's).
    waiters_p999: Duration,
}

impl RunResult {
    fn line(&self) -> String {
        let [a, b, c, d] = self.percentiles.map(|d| d.as_nanos());
        let w = self.waiters_p999.as_nanos();
        format!("RESULT {} {} {} {} {a} {b} {c} {d} {w}", self.calls, self.creator_runs, self.stale, self.waits)
    }

    fn parse(line: &str) -> Option<Self> {
        let n: Vec<u64> = line.strip_prefix("RESULT ")?.split(' ').map(|w| w.parse().ok()).collect::<Option<_>>()?;
        let [calls, creator_runs, stale, waits, a, b, c, d, w] = n.try_into().ok()?;
        Some(RunResult {
            calls,
            creator_runs,
            stale,
            waits,
            percentiles: [a, b, c, d].map(Duration::from_nanos),
            waiters_p999: Duration::from_nanos(w),
        })
    }

    fn add(&mut self, other: RunResult) {
        self.calls += other.calls;
        self.creator_runs += other.creator_runs;
        self.stale += other.stale;
        self.waits += other.waits;
        for (mine, theirs) in self.percentiles.iter_mut().zip(other.percentiles) {
            *mine = (*mine).max(theirs);
        }
        self.waiters_p999 = self.waiters_p999.max(other.waiters_p999);
    }
}

impl DemoArgs {
    fn on_redis(&self) -> bool {
        self.url.is_some() || !self.cluster.is_empty() || !self.sentinels.is_empty()
    }

    fn redis_config(&self) -> Result<Option<RedisConfig>, String> {
        let given = [self.url.is_some(), !self.cluster.is_empty(), !self.sentinels.is_empty()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err("give one of --url, --cluster, --sentinels and --spawn-cluster".into());
        }
        if let Some(url) = &self.url {
            return Ok(Some(RedisConfig::from_url(url)));
        }
        if !self.cluster.is_empty() {
            return Ok(Some(RedisConfig::new().cluster(self.cluster.clone())));
        }
        if !self.sentinels.is_empty() {
            return RedisConfig::new()
                .sentinel(&self.sentinels, self.service_name.clone())
                .map(Some)
                .map_err(|e| e.to_string());
        }
        Ok(None)
    }
}

pub fn run(mut args: DemoArgs) -> Result<(), String> {
    if args.scenario != crate::scenarios::Scenario::Stampede {
        if args.on_redis() || args.spawn_cluster || args.processes > 1 {
            return Err(
                "--scenario runs on its own backend: leave out --url, --cluster, --sentinels and --processes".into()
            );
        }
        let load = crate::scenarios::Load {
            callers: args.callers,
            keys: args.keys,
            duration: args.duration,
            ttl: args.ttl,
            creator_time: args.creator_time,
        };
        return crate::scenarios::run(args.scenario, load);
    }
    // A private cluster lives as long as this run; copies of the demo get its nodes.
    let _cluster = if args.spawn_cluster {
        if args.on_redis() {
            return Err("give one of --url, --cluster, --sentinels and --spawn-cluster".into());
        }
        let cluster = crate::target::start_private("a Redis Cluster", || dogpile_servers::RedisCluster::start(3, 0))?;
        args.cluster = cluster.nodes().iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        args.spawn_cluster = false;
        Some(cluster)
    } else {
        None
    };
    if args.callers == 0 || args.keys == 0 || args.processes == 0 {
        return Err("--callers, --keys and --processes must be at least 1".into());
    }
    if args.processes > 1 && !args.on_redis() {
        return Err(
            "--processes needs Redis (--url, --cluster, --sentinels): processes share values and locks only through it"
                .into(),
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    if let Some(addr) = args.metrics {
        if args.processes > 1 {
            return Err("--metrics serves this process's regions: use it with --processes 1".into());
        }
        // Before the regions are built: they take their metric handles from this recorder.
        crate::metrics_endpoint::serve(&runtime, addr)?;
        eprintln!("serving metrics at http://{addr}/metrics");
    }
    if let Some(phase) = args.phase {
        let result = runtime.block_on(run_once(&args, phase == Phase::With))?;
        println!("{}", result.line());
        return Ok(());
    }
    let backend = match args.redis_config()? {
        Some(config) => format!("Redis at {}, hstore backend with the distributed lock", config.redacted_url()),
        None => "memory backend".into(),
    };
    let processes = if args.processes > 1 { format!(" x {} processes", args.processes) } else { String::new() };
    println!(
        "dogpile demo: {} callers{processes}, {} keys expiring every {}, creator takes {}, {} per run ({backend})",
        args.callers,
        args.keys,
        human(args.ttl),
        human(args.creator_time),
        human(args.duration),
    );
    let with = runtime.block_on(run_phase(&args, Phase::With))?;
    let without = if args.no_compare { None } else { Some(runtime.block_on(run_phase(&args, Phase::Without))?) };
    println!();
    report(&with, without.as_ref(), args.processes);
    Ok(())
}

/// One phase: in this process, or in `--processes` children.
async fn run_phase(args: &DemoArgs, phase: Phase) -> Result<RunResult, String> {
    clear(args).await?;
    if args.processes == 1 {
        return run_once(args, phase == Phase::With).await;
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program to start copies of it: {e}"))?;
    let mut children = Vec::new();
    for _ in 0..args.processes {
        let mut cmd = Command::new(&exe);
        cmd.arg("demo")
            .args(["--callers", &args.callers.to_string(), "--keys", &args.keys.to_string()])
            .args(["--duration", &format!("{}ms", args.duration.as_millis())])
            .args(["--ttl", &format!("{}ms", args.ttl.as_millis())])
            .args(["--creator-time", &format!("{}ms", args.creator_time.as_millis())])
            .args(["--phase", if phase == Phase::With { "with" } else { "without" }])
            .args(args.lock_timeout.map(|t| format!("--lock-timeout={}ms", t.as_millis())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if phase == Phase::With && children.is_empty() { Stdio::inherit() } else { Stdio::null() });
        if let Some(url) = &args.url {
            cmd.args(["--url", url]);
        }
        if !args.cluster.is_empty() {
            cmd.args(["--cluster", &args.cluster.join(",")]);
        }
        if !args.sentinels.is_empty() {
            cmd.args(["--sentinels", &args.sentinels.join(","), "--service-name", &args.service_name]);
        }
        children.push(cmd.spawn().map_err(|e| format!("cannot start a copy of the demo: {e}"))?);
    }
    let mut total = RunResult::default();
    for child in children {
        let out = child.wait_with_output().map_err(|e| format!("a demo process failed: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let result = stdout
            .lines()
            .find_map(RunResult::parse)
            .ok_or_else(|| format!("a demo process ended with {} and no result", out.status))?;
        total.add(result);
    }
    Ok(total)
}

/// The demo's region; `name` labels its metrics.
async fn make_region(args: &DemoArgs, name: &str) -> Result<Region, String> {
    let builder = Region::builder().name(name).expiration_time(args.ttl);
    let builder = match args.redis_config()? {
        None => builder,
        Some(config) => {
            let mut config = config
                .distributed_lock(true)
                .lock_sleep(Duration::from_millis(5))
                .redis_expiration_time(Duration::from_secs(3600));
            if let Some(timeout) = args.lock_timeout {
                config = config.lock_timeout(timeout);
            }
            builder.backend(RedisAdvancedHstoreBackend::new(config).map_err(|e| e.to_string())?)
        }
    };
    builder.build().map_err(|e| e.to_string())
}

fn demo_keys(args: &DemoArgs) -> Vec<CacheKey> {
    if args.on_redis() {
        (0..args.keys).map(|i| CacheKey::hash(DEMO_HASH, format!("key:{i}"))).collect()
    } else {
        (0..args.keys).map(|i| CacheKey::from(format!("demo:key:{i}"))).collect()
    }
}

/// Removes the demo's values, so each phase starts cold.
async fn clear(args: &DemoArgs) -> Result<(), String> {
    if args.on_redis() {
        let region = make_region(args, "demo_clear").await?;
        region.delete_multi(demo_keys(args)).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn run_once(args: &DemoArgs, with_lock: bool) -> Result<RunResult, String> {
    let label = if with_lock { "with the lock" } else { "without the lock" };
    let region = make_region(args, if with_lock { "demo_with_lock" } else { "demo_without_lock" }).await?;
    let keys = Arc::new(demo_keys(args));
    let calls = Arc::new(AtomicU64::new(0));
    let runs = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + args.duration;

    let done = Arc::new(AtomicBool::new(false));
    let progress = tokio::spawn({
        let (calls, runs, done, total) = (calls.clone(), runs.clone(), done.clone(), args.duration);
        async move {
            // A bar redrawn in place on a terminal (indicatif); elsewhere a plain line a second.
            let progress = Progress::timed(total, Duration::from_secs(1));
            progress.stage(label);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while !done.load(Ordering::Relaxed) {
                tick.tick().await;
                let elapsed = started.elapsed().min(total);
                let detail = format!(
                    "{:.1}s / {:.1}s  {} calls  {} creator runs",
                    elapsed.as_secs_f64(),
                    total.as_secs_f64(),
                    thousands(calls.load(Ordering::Relaxed)),
                    thousands(runs.load(Ordering::Relaxed)),
                );
                progress.update(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX), &detail);
            }
            progress.finish();
        }
    });

    let mut tasks = Vec::with_capacity(args.callers);
    for caller in 0..args.callers {
        let (region, keys, calls, runs, creator_time) =
            (region.clone(), keys.clone(), calls.clone(), runs.clone(), args.creator_time);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Latencies::default();
            let mut waiters = Latencies::default();
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
                    let options = CreateOptions::new();
                    let (_, outcome) =
                        region.get_or_create_with_outcome::<String, _, _, _>(key, &options, creator).await?;
                    if matches!(outcome, Outcome::AfterWait | Outcome::CreatedAfterWait) {
                        waiters.record(t0.elapsed());
                    }
                } else if region.get::<String>(key).await?.is_none() {
                    let value = creator()
                        .await
                        .map_err(|e| dogpile::Error::Creator { key: Some(key.clone()), source: e.into() })?;
                    region.set(key, &value).await?;
                }
                latencies.record(t0.elapsed());
                calls.fetch_add(1, Ordering::Relaxed);
                // A request handler gives the runtime back between requests; without this, a
                // caller whose reads never wait would hold a worker thread for the whole run.
                tokio::task::yield_now().await;
            }
            Ok::<_, dogpile::Error>((latencies, waiters))
        }));
    }
    let mut latencies = Latencies::default();
    let mut waiters = Latencies::default();
    let mut failure = None;
    for task in tasks {
        match task.await {
            Ok(Ok((part, waited))) => {
                latencies.merge(part);
                waiters.merge(waited);
            }
            Ok(Err(err)) => failure = failure.or(Some(err.to_string())),
            Err(err) => failure = failure.or(Some(format!("a caller failed: {err}"))),
        }
    }
    done.store(true, Ordering::Relaxed);
    let _ = progress.await;
    if let Some(failure) = failure {
        return Err(failure);
    }
    let stats = region.stats();
    Ok(RunResult {
        calls: calls.load(Ordering::Relaxed),
        creator_runs: runs.load(Ordering::Relaxed),
        stale: stats.stale,
        waits: stats.waits,
        percentiles: [50.0, 99.0, 99.9, 100.0].map(|p| latencies.percentile(p)),
        waiters_p999: waiters.percentile(99.9),
    })
}

fn report(with: &RunResult, without: Option<&RunResult>, processes: usize) {
    let dash = || "-".to_string();
    let pick = |f: &dyn Fn(&RunResult) -> String| without.map_or_else(dash, f);
    let worst = if processes > 1 { " (worst process)" } else { "" };
    let rows = [
        ("calls".to_string(), thousands(with.calls), pick(&|w| thousands(w.calls))),
        ("creator runs".to_string(), thousands(with.creator_runs), pick(&|w| thousands(w.creator_runs))),
        ("stale serves".to_string(), thousands(with.stale), dash()),
        ("waits".to_string(), thousands(with.waits), dash()),
        (format!("p50 latency{worst}"), human(with.percentiles[0]), pick(&|w| human(w.percentiles[0]))),
        (format!("p99 latency{worst}"), human(with.percentiles[1]), pick(&|w| human(w.percentiles[1]))),
        (format!("p99.9 latency{worst}"), human(with.percentiles[2]), pick(&|w| human(w.percentiles[2]))),
        (format!("max latency{worst}"), human(with.percentiles[3]), pick(&|w| human(w.percentiles[3]))),
        (format!("p99.9 of the waiters{worst}"), human(with.waiters_p999), dash()),
    ];
    let width = rows.iter().map(|(n, _, _)| n.chars().count()).max().unwrap_or(14);
    println!("{:<width$} {:>20} {:>20}", "", "with dogpile lock", "without");
    for (name, a, b) in rows {
        println!("{name:<width$} {a:>20} {b:>20}");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_round_trip_and_add_up() {
        let r = RunResult {
            calls: 10,
            creator_runs: 2,
            stale: 3,
            waits: 4,
            percentiles: [Duration::from_nanos(5); 4],
            waiters_p999: Duration::from_nanos(7),
        };
        let mut total = RunResult::parse(&r.line()).unwrap();
        total.add(RunResult::parse(&r.line()).unwrap());
        assert_eq!((total.calls, total.creator_runs, total.stale, total.waits), (20, 4, 6, 8));
        assert_eq!(total.waiters_p999, Duration::from_nanos(7), "the worst process's");
        assert!(RunResult::parse("RESULT 1 2").is_none());
    }
}
