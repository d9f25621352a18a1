//! `dogpile chaos`: callers keep reading through the cache while its Redis is killed,
//! paused, starved of memory and re-keyed; the run counts what they saw.
//!
//! The callers loop over `get_or_create`, `get_multi`, `get_or_create_multi` and `set` on plain
//! and hash keys (hstore backend, distributed lock). Every value names its key, so a value
//! served for the wrong key is caught. A call that has not ended after `--hang-after` is a hung
//! call. After each fault, the recovery time is how long until a call begun after the cause
//! was gone succeeded. The run fails on a panic, a hung call, a wrong value, a fault the cache
//! did not recover from, or a lock left in Redis once every caller has stopped.

mod callers;
mod faults;
mod server;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dogpile::Region;
use dogpile_redis::{RedisAdvancedHstoreBackend, RedisConfig};
use serde::Serialize;

use crate::duration;
use crate::stats::{human, thousands};
use callers::{Caller, LOCK_PATTERN, Shared, Tally};
use faults::Fault;
use server::Server;

/// Options of `dogpile chaos`.
#[derive(Debug, Clone, clap::Args)]
pub struct ChaosArgs {
    /// Start a private redis-server for the run, which every fault can break.
    #[arg(long)]
    spawn: bool,
    /// Break the Redis at this URL instead (its keys under `chaos:` are overwritten). Only the
    /// faults a client can cause are possible there, and they must be named with --faults.
    #[arg(long)]
    url: Option<String>,
    /// How long the whole run lasts; the faults are spread over it.
    #[arg(long, default_value = "60s", value_parser = duration::parse)]
    duration: Duration,
    /// The faults, in order (default with --spawn: all of them).
    #[arg(long, value_enum, value_delimiter = ',')]
    faults: Vec<Fault>,
    /// How long each fault lasts.
    #[arg(long, default_value = "2s", value_parser = duration::parse)]
    fault_time: Duration,
    /// Concurrent callers.
    #[arg(long, default_value_t = 32)]
    callers: usize,
    /// Distinct keys (half plain, half fields of hashes).
    #[arg(long, default_value_t = 200)]
    keys: usize,
    /// The region's expiration time: values go stale and are made again under the lock.
    #[arg(long, default_value = "1s", value_parser = duration::parse)]
    ttl: Duration,
    /// The client's socket timeout.
    #[arg(long, default_value = "250ms", value_parser = duration::parse)]
    socket_timeout: Duration,
    /// A call still running after this is a hung call.
    #[arg(long, default_value = "5s", value_parser = duration::parse)]
    hang_after: Duration,
    /// A fault the cache has not recovered from within this is a failure.
    #[arg(long, default_value = "10s", value_parser = duration::parse)]
    recover_within: Duration,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// What one fault did.
#[derive(Debug, Serialize)]
struct FaultRun {
    fault: Fault,
    /// When it began, since the start of the run.
    at_ms: u64,
    /// From its start until its cause was gone.
    lasted_ms: u64,
    /// From the cause gone until a call begun afterwards succeeded; `None`: not within
    /// `--recover-within`.
    recovered_ms: Option<f64>,
    errors: BTreeMap<String, u64>,
    hung: u64,
}

/// The whole run.
#[derive(Debug, Serialize)]
struct Report {
    target: String,
    seconds: f64,
    callers: usize,
    calls: u64,
    creator_runs: u64,
    faults: Vec<FaultRun>,
    /// Errors of calls that began and ended while no fault was under way or being recovered
    /// from.
    quiet_errors: BTreeMap<String, u64>,
    hung: u64,
    wrong_values: u64,
    wrong_examples: Vec<String>,
    panics: u64,
    locks_left: Vec<String>,
    ok: bool,
}

static PANICS: AtomicU64 = AtomicU64::new(0);

pub fn run(args: ChaosArgs) -> Result<(), String> {
    let mut server = match (&args.url, args.spawn) {
        (None, true) => Server::spawn()?,
        (Some(url), false) => Server::given(url)?,
        (Some(_), true) => return Err("give either --url or --spawn, not both".into()),
        (None, false) => return Err("give --spawn (a private redis-server) or --url redis://HOST:PORT".into()),
    };
    let faults = match (args.faults.is_empty(), server.is_spawned()) {
        (false, _) => args.faults.clone(),
        (true, true) => Fault::ALL.to_vec(),
        (true, false) => {
            return Err("with --url, name the faults to cause on that server: --faults pause,pause-write,oom".into());
        }
    };
    if let Some(fault) = faults.iter().find(|f| f.needs_spawn() && !server.is_spawned()) {
        return Err(format!("the {} fault needs a server of this run's own: use --spawn", fault.name()));
    }
    if args.callers == 0 || args.keys == 0 {
        return Err("--callers and --keys must be at least 1".into());
    }
    let slot = args.duration.checked_div(faults.len().max(1) as u32).unwrap_or_default();
    if slot < args.fault_time * 2 {
        return Err(format!(
            "--duration {} is too short for {} faults of {}: give at least {}",
            human(args.duration),
            faults.len(),
            human(args.fault_time),
            human(args.fault_time * 2 * faults.len() as u32)
        ));
    }

    // Panics anywhere in the process, background tasks included, are counted.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let Some(url) = server.url().or_else(|| args.url.clone()) else {
        return Err("no URL to connect to".into());
    };
    let config = RedisConfig::from_url(url)
        .socket_timeout(args.socket_timeout)
        .socket_connect_timeout(args.socket_timeout)
        .distributed_lock(true)
        .lock_sleep(Duration::from_millis(10))
        .redis_expiration_time(Duration::from_secs(600));
    let backend = RedisAdvancedHstoreBackend::new(config).map_err(|e| e.to_string())?;
    let region = Region::builder().expiration_time(args.ttl).backend(backend).build().map_err(|e| e.to_string())?;
    let keys = Arc::new(callers::keys(args.keys));
    runtime.block_on(region.delete_multi(keys.iter().cloned())).map_err(|e| format!("cannot clear the keys: {e}"))?;

    if !args.json {
        println!(
            "dogpile chaos: {} callers on {}, {} faults ({}) of {} over {}",
            args.callers,
            server.describe(),
            faults.len(),
            faults.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "),
            human(args.fault_time),
            human(args.duration),
        );
    }
    let shared = Arc::new(Shared::new());
    let caller = Caller {
        region: region.clone(),
        keys: Arc::clone(&keys),
        shared: Arc::clone(&shared),
        hang_after: args.hang_after,
        creator_time: Duration::from_millis(5),
    };
    let tasks: Vec<_> = (0..args.callers as u64).map(|id| runtime.spawn(caller.clone().run(id))).collect();

    let mut runs = Vec::new();
    let schedule = schedule(&args, &faults, &mut server, &shared, slot, &mut runs);
    shared.stop.store(true, Ordering::SeqCst);
    let mut tally = Tally::default();
    let mut panicked_callers = 0;
    for task in tasks {
        match runtime.block_on(task) {
            Ok(part) => tally.merge(part),
            Err(_) => panicked_callers += 1,
        }
    }
    schedule?;
    let locks_left = locks_left(&server, args.socket_timeout);
    let _ = runtime.block_on(region.delete_multi(keys.iter().cloned()));
    drop(runtime);

    let report = report(&args, &server, &shared, runs, tally, locks_left, panicked_callers);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        print_report(&report);
    }
    if report.ok { Ok(()) } else { Err("the cache misbehaved under faults (see above)".into()) }
}

/// Runs the faults one per slot, each a quarter into its slot, and waits for each recovery.
fn schedule(
    args: &ChaosArgs,
    faults: &[Fault],
    server: &mut Server,
    shared: &Shared,
    slot: Duration,
    runs: &mut Vec<(Fault, Instant, Instant, Option<Duration>)>,
) -> Result<(), String> {
    for (n, &fault) in faults.iter().enumerate() {
        let begin = shared.started + slot * n as u32 + slot / 4;
        std::thread::sleep(begin.saturating_duration_since(Instant::now()));
        shared.phase.store(n + 1, Ordering::SeqCst);
        let start = Instant::now();
        let end = fault.inject(server, args.fault_time)?;
        shared.recovered_at.store(u64::MAX, Ordering::SeqCst);
        shared.recovery_mark.store(shared.nanos(end), Ordering::SeqCst);
        let recovered = loop {
            let at = shared.recovered_at.load(Ordering::SeqCst);
            if at != u64::MAX {
                break Some(Duration::from_nanos(at.saturating_sub(shared.nanos(end))));
            }
            if end.elapsed() > args.recover_within {
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        shared.recovery_mark.store(u64::MAX, Ordering::SeqCst);
        shared.phase.store(0, Ordering::SeqCst);
        runs.push((fault, start, end, recovered));
    }
    std::thread::sleep((shared.started + args.duration).saturating_duration_since(Instant::now()));
    Ok(())
}

/// The run's locks still in Redis once every caller has stopped, after giving a release that
/// was under way a moment to land.
fn locks_left(server: &Server, socket_timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + socket_timeout * 4 + Duration::from_secs(2);
    loop {
        let left = server.scan(LOCK_PATTERN).unwrap_or_else(|e| vec![format!("(cannot scan: {e})")]);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn report(
    args: &ChaosArgs,
    server: &Server,
    shared: &Shared,
    runs: Vec<(Fault, Instant, Instant, Option<Duration>)>,
    tally: Tally,
    locks_left: Vec<String>,
    panicked_callers: u64,
) -> Report {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let errors_of = |phase: usize| {
        tally.errors.iter().filter(|((p, _), _)| *p == phase).map(|((_, kind), n)| (kind.clone(), *n)).collect()
    };
    let faults: Vec<FaultRun> = runs
        .into_iter()
        .enumerate()
        .map(|(n, (fault, start, end, recovered))| FaultRun {
            fault,
            at_ms: millis(start - shared.started),
            lasted_ms: millis(end.saturating_duration_since(start)),
            recovered_ms: recovered.map(|d| d.as_secs_f64() * 1000.0),
            errors: errors_of(n + 1),
            hung: tally.hung.get(&(n + 1)).copied().unwrap_or(0),
        })
        .collect();
    let hung = tally.hung.values().sum();
    let panics = PANICS.load(Ordering::SeqCst).max(panicked_callers);
    let ok = hung == 0
        && tally.wrong == 0
        && panics == 0
        && locks_left.is_empty()
        && faults.iter().all(|f| f.recovered_ms.is_some());
    Report {
        target: server.describe(),
        seconds: shared.started.elapsed().as_secs_f64(),
        callers: args.callers,
        calls: tally.calls,
        creator_runs: shared.creator_runs.load(Ordering::SeqCst),
        faults,
        quiet_errors: errors_of(0),
        hung,
        wrong_values: tally.wrong,
        wrong_examples: tally.wrong_examples,
        panics,
        locks_left,
        ok,
    }
}

fn kinds(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return "-".into();
    }
    errors.iter().map(|(kind, n)| format!("{kind} {}", thousands(*n))).collect::<Vec<_>>().join(", ")
}

fn print_report(report: &Report) {
    println!();
    println!(
        "{:<12} {:>9} {:>9} {:>10} {:>6}  errors of calls under way in the fault, by kind",
        "fault", "at", "lasted", "recovered", "hung"
    );
    for f in &report.faults {
        let recovered =
            f.recovered_ms.map_or("NO".to_string(), |ms| human(Duration::from_secs_f64(ms.max(0.0) / 1000.0)));
        println!(
            "{:<12} {:>9} {:>9} {:>10} {:>6}  {}",
            f.fault.name(),
            human(Duration::from_millis(f.at_ms)),
            human(Duration::from_millis(f.lasted_ms)),
            recovered,
            f.hung,
            kinds(&f.errors)
        );
    }
    println!();
    println!("calls          {}", thousands(report.calls));
    println!("creator runs   {}", thousands(report.creator_runs));
    println!("quiet errors   {}", kinds(&report.quiet_errors));
    println!("hung calls     {}", report.hung);
    println!("wrong values   {}", report.wrong_values);
    for example in &report.wrong_examples {
        println!("  {example}");
    }
    println!("panics         {}", report.panics);
    println!("locks left     {}", report.locks_left.len());
    for lock in report.locks_left.iter().take(5) {
        println!("  {lock}");
    }
    println!();
    if report.ok {
        println!("No panic, no hung call, no wrong value, no lock left; recovered from every fault.");
    }
}
