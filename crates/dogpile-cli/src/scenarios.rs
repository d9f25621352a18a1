//! `dogpile demo --scenario ...`: the resilience options shown side by side with dogpile's
//! plain behaviour, in one run.
//!
//! - `early-refresh`: hot keys under steady load; how many calls wait for a regeneration, and
//!   how many are served expired, with plain `get_or_create` and with early refresh (XFetch).
//! - `fail-safe`: the database goes down a third into the run and stays down; errors with
//!   plain `get_or_create`, expired values served by fail-safe.
//! - `fail-open`: a private redis-server is killed a third into the run and restarted at two
//!   thirds; calls served during the outage with and without fail-open.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dogpile::region::{CreateOptions, EarlyRefresh, FailOpen, FailSafe, RegionStats};
use dogpile::{CacheKey, Region};
use dogpile_redis::{RedisAdvancedHstoreBackend, RedisConfig};
use dogpile_servers::RedisServer;

use crate::stats::{Latencies, human, thousands};

/// What the demo shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Many callers and an expiring key, with and without the dogpile lock.
    Stampede,
    /// Early refresh (XFetch) against plain `get_or_create`.
    EarlyRefresh,
    /// The database goes down: fail-safe against plain `get_or_create`.
    FailSafe,
    /// Redis goes down and comes back: fail-open against plain `get_or_create`.
    FailOpen,
}

/// The load of a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub callers: usize,
    pub keys: usize,
    pub duration: Duration,
    pub ttl: Duration,
    pub creator_time: Duration,
}

/// What one side of a scenario saw.
#[derive(Debug, Default)]
struct Tally {
    calls: u64,
    errors: u64,
    /// Calls that took at least half the creator's time: they waited for a creation.
    waited: u64,
    /// Calls made while the fault was on (database or Redis down), and those that succeeded.
    during_fault: u64,
    ok_during_fault: u64,
    creator_runs: u64,
    stats: RegionStats,
    latencies: Latencies,
}

pub fn run(scenario: Scenario, load: Load) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        match scenario {
            Scenario::Stampede => Err("the stampede scenario is `dogpile demo` itself".into()),
            Scenario::EarlyRefresh => early_refresh(load).await,
            Scenario::FailSafe => fail_safe(load).await,
            Scenario::FailOpen => fail_open(load).await,
        }
    })
}

fn keys(load: &Load) -> Arc<Vec<CacheKey>> {
    Arc::new((0..load.keys).map(|i| CacheKey::hash("dogpile:scenario", format!("key:{i}"))).collect())
}

/// How a side reads through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    Plain,
    Background,
}

/// Callers loop over the keys for the load's duration. The creator fails while `database_down`
/// is set; `fault` marks the calls made during a fault.
async fn drive(
    region: &Region,
    load: Load,
    read: Read,
    database_down: Arc<AtomicBool>,
    fault: Arc<AtomicBool>,
) -> Tally {
    let keys = keys(&load);
    let runs = Arc::new(AtomicU64::new(0));
    let creator = {
        let (runs, database_down, creator_time) = (runs.clone(), database_down.clone(), load.creator_time);
        move |key: CacheKey| {
            let (runs, database_down) = (runs.clone(), database_down.clone());
            move || async move {
                runs.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(creator_time).await;
                if database_down.load(Ordering::Relaxed) {
                    return Err(std::io::Error::other("the database is down"));
                }
                Ok(format!("{key}"))
            }
        }
    };
    // Every key has a value before the callers start: only expiries are measured.
    for key in keys.iter() {
        let _ = region.get_or_create(key, creator(key.clone())).await;
    }
    runs.store(0, Ordering::Relaxed);
    let deadline = Instant::now() + load.duration;
    let callers: Vec<_> = (0..load.callers)
        .map(|caller| {
            let (region, keys, creator, fault) = (region.clone(), keys.clone(), creator.clone(), fault.clone());
            let half = load.creator_time / 2;
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut i = caller;
                while Instant::now() < deadline {
                    let key = &keys[i % keys.len()];
                    i += 1;
                    let in_fault = fault.load(Ordering::Relaxed);
                    let t0 = Instant::now();
                    let got = match read {
                        Read::Plain => region.get_or_create(key, creator(key.clone())).await,
                        Read::Background => {
                            region.get_or_create_in_background(key, &CreateOptions::new(), creator(key.clone())).await
                        }
                    };
                    let took = t0.elapsed();
                    tally.latencies.record(took);
                    tally.calls += 1;
                    tally.waited += u64::from(took >= half);
                    tally.errors += u64::from(got.is_err());
                    if in_fault {
                        tally.during_fault += 1;
                        tally.ok_during_fault += u64::from(got.is_ok());
                    }
                    tokio::task::yield_now().await;
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for caller in callers {
        if let Ok(part) = caller.await {
            total.calls += part.calls;
            total.errors += part.errors;
            total.waited += part.waited;
            total.during_fault += part.during_fault;
            total.ok_during_fault += part.ok_during_fault;
            total.latencies.merge(part.latencies);
        }
    }
    total.creator_runs = runs.load(Ordering::Relaxed);
    total.stats = region.stats();
    total
}

fn memory_region(
    load: &Load,
    configure: impl FnOnce(dogpile::RegionBuilder) -> dogpile::RegionBuilder,
) -> Result<Region, String> {
    configure(Region::builder().expiration_time(load.ttl)).build().map_err(|e| e.to_string())
}

fn percent(part: u64, whole: u64) -> String {
    format!("{:.2}%", part as f64 * 100.0 / whole.max(1) as f64)
}

/// A row's label and how to show it for one side.
type Row<'a> = (&'a str, &'a dyn Fn(&mut Tally) -> String);

/// Prints the two sides under `headers`, one line per row.
fn table(headers: [&str; 2], off: &mut Tally, on: &mut Tally, rows: &[Row<'_>]) {
    let width = rows.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(10);
    println!("{:<width$} {:>22} {:>22}", "", headers[0], headers[1]);
    for (name, show) in rows {
        println!("{name:<width$} {:>22} {:>22}", show(off), show(on));
    }
}

fn header(what: &str, load: &Load) {
    println!(
        "dogpile demo --scenario {what}: {} callers over {} keys expiring every {}, creator takes {}, {} per side",
        load.callers,
        load.keys,
        human(load.ttl),
        human(load.creator_time),
        human(load.duration)
    );
}

async fn early_refresh(load: Load) -> Result<(), String> {
    header("early-refresh", &load);
    let (up, no_fault) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let plain = memory_region(&load, |b| b)?;
    let mut off = drive(&plain, load, Read::Plain, up.clone(), no_fault.clone()).await;
    let early = memory_region(&load, |b| b.early_refresh(EarlyRefresh::new(1.0)))?;
    let mut on = drive(&early, load, Read::Background, up, no_fault).await;
    table(
        ["get_or_create", "early refresh"],
        &mut off,
        &mut on,
        &[
            ("calls", &|t| thousands(t.calls)),
            ("creator runs", &|t| thousands(t.creator_runs)),
            ("callers that waited", &|t| format!("{} ({})", thousands(t.waited), percent(t.waited, t.calls))),
            ("expired values served", &|t| thousands(t.stats.stale)),
            ("early refreshes", &|t| thousands(t.stats.early_refreshes)),
            ("p99 latency", &|t| human(t.latencies.percentile(99.0))),
            ("p99.9 latency", &|t| human(t.latencies.percentile(99.9))),
        ],
    );
    println!();
    println!(
        "With early refresh {} of {} calls waited for a regeneration and {} expired values were served \
         ({} and {} with plain get_or_create).",
        thousands(on.waited),
        thousands(on.calls),
        thousands(on.stats.stale),
        thousands(off.waited),
        thousands(off.stats.stale),
    );
    Ok(())
}

async fn fail_safe(load: Load) -> Result<(), String> {
    header("fail-safe", &load);
    println!("The database goes down a third into each side's run and stays down.");
    let side = |region: Region| async move {
        let (down, fault) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let breaker = {
            let (down, fault) = (down.clone(), fault.clone());
            tokio::spawn(async move {
                tokio::time::sleep(load.duration / 3).await;
                down.store(true, Ordering::Relaxed);
                fault.store(true, Ordering::Relaxed);
            })
        };
        let tally = drive(&region, load, Read::Plain, down, fault).await;
        let _ = breaker.await;
        tally
    };
    let mut off = side(memory_region(&load, |b| b)?).await;
    let safe = FailSafe::new(Duration::from_secs(3600)).throttle(Duration::from_secs(1));
    let mut on = side(memory_region(&load, |b| b.fail_safe(safe))?).await;
    table(
        ["get_or_create", "fail-safe"],
        &mut off,
        &mut on,
        &[
            ("calls", &|t| thousands(t.calls)),
            ("calls with the database down", &|t| thousands(t.during_fault)),
            ("errors", &|t| thousands(t.errors)),
            ("expired values served by fail-safe", &|t| thousands(t.stats.fail_safe)),
            ("creator runs", &|t| thousands(t.creator_runs)),
            ("p99 latency", &|t| human(t.latencies.percentile(99.0))),
        ],
    );
    println!();
    println!(
        "With the database down, fail-safe answered every call ({} errors, against {} without it), \
         calling the database {} times instead of {}.",
        thousands(on.errors),
        thousands(off.errors),
        thousands(on.creator_runs),
        thousands(off.creator_runs),
    );
    Ok(())
}

async fn fail_open(load: Load) -> Result<(), String> {
    header("fail-open", &load);
    println!("A private redis-server is killed a third into each side's run and restarted at two thirds.");
    let mut server = crate::target::start_private("redis-server", RedisServer::start)?;
    let region = |server: &RedisServer, fail_open: bool| -> Result<Region, String> {
        let config = RedisConfig::from_url(server.url())
            .distributed_lock(true)
            .lock_sleep(Duration::from_millis(5))
            .socket_timeout(Duration::from_millis(250))
            .socket_connect_timeout(Duration::from_millis(250));
        let builder = Region::builder()
            .expiration_time(load.ttl)
            .backend(RedisAdvancedHstoreBackend::new(config).map_err(|e| e.to_string())?);
        let builder = if fail_open { builder.fail_open(FailOpen::new()) } else { builder };
        builder.build().map_err(|e| e.to_string())
    };
    let mut side = async |on: bool| -> Result<Tally, String> {
        let region = region(&server, on)?;
        let fault = Arc::new(AtomicBool::new(false));
        let driving = drive(&region, load, Read::Plain, Arc::new(AtomicBool::new(false)), fault.clone());
        let outage = async {
            tokio::time::sleep(load.duration / 3).await;
            server.kill();
            fault.store(true, Ordering::Relaxed);
            tokio::time::sleep(load.duration / 3).await;
            let restarted = server.restart().map_err(|e| e.to_string());
            fault.store(false, Ordering::Relaxed);
            restarted
        };
        let (tally, restarted) = tokio::join!(driving, outage);
        restarted.map(|()| tally)
    };
    let mut off = side(false).await?;
    let mut on = side(true).await?;
    table(
        ["get_or_create", "fail-open"],
        &mut off,
        &mut on,
        &[
            ("calls", &|t| thousands(t.calls)),
            ("calls with Redis down", &|t| thousands(t.during_fault)),
            ("of those answered", &|t| {
                format!("{} ({})", thousands(t.ok_during_fault), percent(t.ok_during_fault, t.during_fault))
            }),
            ("errors", &|t| thousands(t.errors)),
            ("served without Redis", &|t| thousands(t.stats.fail_open)),
            ("creator runs", &|t| thousands(t.creator_runs)),
            ("p99.9 latency", &|t| human(t.latencies.percentile(99.9))),
        ],
    );
    println!();
    println!(
        "While Redis was down, fail-open answered {} of {} calls; without it, {} of {}.",
        thousands(on.ok_during_fault),
        thousands(on.during_fault),
        thousands(off.ok_during_fault),
        thousands(off.during_fault),
    );
    Ok(())
}
