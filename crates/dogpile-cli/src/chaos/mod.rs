//! `dogpile chaos`: callers keep reading through the cache while its Redis is killed,
//! paused, starved of memory and re-keyed, and the network to it is slowed, blackholed, reset
//! and read slowly; the run counts what they saw, and samples what the process and the server
//! hold at the start and the end of every phase.
//!
//! The callers loop over `get_or_create`, `get_multi`, `get_or_create_multi` and `set` on plain
//! and hash keys (hstore backend, distributed lock). Every value names its key, so a value
//! served for the wrong key is caught. A call that has not ended after `--hang-after` is a hung
//! call. After each fault, the recovery time is how long until a call begun after the cause
//! was gone succeeded. The run fails on a panic, a hung call, a wrong value, a fault the cache
//! did not recover from, a lock left in Redis once every caller has stopped, or a resource
//! that grew from the first quiet sample after the warm-up to the last beyond its slack (a
//! long `--duration` is a soak).

mod callers;
mod faults;
mod resources;
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
use resources::{Growth, Sample};
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
    /// The longest call of the fault that ended.
    longest_call_ms: f64,
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
    resources: Vec<Sample>,
    growth_per_minute: Option<Growth>,
    /// The resources that grew beyond their slack.
    grown: Vec<String>,
    ok: bool,
}

/// One fault as the schedule ran it: when it began, when its cause was gone, and how long
/// the recovery took.
type Ran = (Fault, Instant, Instant, Option<Duration>);

static PANICS: AtomicU64 = AtomicU64::new(0);

pub fn run(args: ChaosArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let mut server = match (&args.url, args.spawn) {
        (None, true) => Server::spawn(&runtime)?,
        (Some(url), false) => Server::given(url)?,
        (Some(_), true) => return Err("give either --url or --spawn, not both".into()),
        (None, false) => return Err("give --spawn (a private redis-server) or --url redis://HOST:PORT".into()),
    };
    let faults = faults(&args, &server)?;
    let slot = slot(&args, faults.len())?;
    count_panics();
    let Some(url) = server.url().or_else(|| args.url.clone()) else {
        return Err("no URL to connect to".into());
    };
    let region = region(&args, url)?;
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
    let mut run =
        Run { args: &args, shared: &shared, runtime: &runtime, region: &region, ran: Vec::new(), samples: Vec::new() };
    run.sample(&server, "start", true);
    let tasks: Vec<_> = (0..args.callers as u64).map(|id| runtime.spawn(caller.clone().run(id))).collect();

    let schedule = run.schedule(&faults, &mut server, slot);
    run.sample(&server, "end", true);
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
    run.sample(&server, "callers stopped", false);
    let (ran, samples) = (std::mem::take(&mut run.ran), std::mem::take(&mut run.samples));
    let _ = runtime.block_on(region.delete_multi(keys.iter().cloned()));
    drop(runtime);

    let report = report(&args, &server, &shared, ran, samples, tally, locks_left, panicked_callers);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        print_report(&report);
    }
    if report.ok { Ok(()) } else { Err("the cache misbehaved under faults (see above)".into()) }
}

/// Each fault's share of the run, long enough for the fault and the recovery after it.
fn slot(args: &ChaosArgs, faults: usize) -> Result<Duration, String> {
    let slot = args.duration.checked_div(faults.max(1) as u32).unwrap_or_default();
    if slot < args.fault_time * 2 {
        return Err(format!(
            "--duration {} is too short for {faults} faults of {}: give at least {}",
            human(args.duration),
            human(args.fault_time),
            human(args.fault_time * 2 * faults as u32)
        ));
    }
    Ok(slot)
}

/// Counts panics anywhere in the process, background tasks included, in [`PANICS`].
fn count_panics() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
}

/// The region the callers share: hash storage with the distributed lock, at `url`.
fn region(args: &ChaosArgs, url: String) -> Result<Region, String> {
    let config = RedisConfig::from_url(url)
        .socket_timeout(args.socket_timeout)
        .socket_connect_timeout(args.socket_timeout)
        .distributed_lock(true)
        .lock_sleep(Duration::from_millis(10))
        .redis_expiration_time(Duration::from_secs(600));
    let backend = RedisAdvancedHstoreBackend::new(config).map_err(|e| e.to_string())?;
    Region::builder().expiration_time(args.ttl).backend(backend).build().map_err(|e| e.to_string())
}

/// The faults to cause: those named, or every one on a server of the run's own.
fn faults(args: &ChaosArgs, server: &Server) -> Result<Vec<Fault>, String> {
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
    Ok(faults)
}

/// The run under way: what the schedule needs, and what it records.
struct Run<'a> {
    args: &'a ChaosArgs,
    shared: &'a Shared,
    runtime: &'a tokio::runtime::Runtime,
    region: &'a Region,
    ran: Vec<Ran>,
    samples: Vec<Sample>,
}

impl Run<'_> {
    fn sample(&mut self, server: &Server, when: &str, quiet: bool) {
        let at_ms = u64::try_from(self.shared.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let resources = resources::sample(self.runtime, server, self.region);
        self.samples.push(Sample { when: when.to_string(), at_ms, quiet, resources });
    }

    /// Runs the faults one per slot, each a quarter into its slot, and waits for each
    /// recovery; samples the resources before each fault and after its recovery.
    fn schedule(&mut self, faults: &[Fault], server: &mut Server, slot: Duration) -> Result<(), String> {
        let shared = self.shared;
        for (n, &fault) in faults.iter().enumerate() {
            let begin = shared.started + slot * n as u32 + slot / 4;
            std::thread::sleep(begin.saturating_duration_since(Instant::now()));
            self.sample(server, &format!("{} begins", fault.name()), true);
            shared.phase.store(n + 1, Ordering::SeqCst);
            let start = Instant::now();
            let end = fault.inject(server, self.args.fault_time)?;
            shared.recovered_at.store(u64::MAX, Ordering::SeqCst);
            shared.recovery_mark.store(shared.nanos(end), Ordering::SeqCst);
            let recovered = loop {
                let at = shared.recovered_at.load(Ordering::SeqCst);
                if at != u64::MAX {
                    break Some(Duration::from_nanos(at.saturating_sub(shared.nanos(end))));
                }
                if end.elapsed() > self.args.recover_within {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(2));
            };
            shared.recovery_mark.store(u64::MAX, Ordering::SeqCst);
            shared.phase.store(0, Ordering::SeqCst);
            self.ran.push((fault, start, end, recovered));
            self.sample(server, &format!("{} recovered", fault.name()), false);
        }
        std::thread::sleep((shared.started + self.args.duration).saturating_duration_since(Instant::now()));
        Ok(())
    }
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

#[allow(clippy::too_many_arguments)]
fn report(
    args: &ChaosArgs,
    server: &Server,
    shared: &Shared,
    ran: Vec<Ran>,
    samples: Vec<Sample>,
    tally: Tally,
    locks_left: Vec<String>,
    panicked_callers: u64,
) -> Report {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let errors_of = |phase: usize| {
        tally.errors.iter().filter(|((p, _), _)| *p == phase).map(|((_, kind), n)| (kind.clone(), *n)).collect()
    };
    let faults: Vec<FaultRun> = ran
        .into_iter()
        .enumerate()
        .map(|(n, (fault, start, end, recovered))| FaultRun {
            fault,
            at_ms: millis(start - shared.started),
            lasted_ms: millis(end.saturating_duration_since(start)),
            recovered_ms: recovered.map(|d| d.as_secs_f64() * 1000.0),
            longest_call_ms: tally.longest.get(&(n + 1)).map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            errors: errors_of(n + 1),
            hung: tally.hung.get(&(n + 1)).copied().unwrap_or(0),
        })
        .collect();
    let hung = tally.hung.values().sum();
    let panics = PANICS.load(Ordering::SeqCst).max(panicked_callers);
    let grown = resources::grown(&samples, args.callers, args.callers * callers::BATCH);
    let ok = hung == 0
        && tally.wrong == 0
        && panics == 0
        && locks_left.is_empty()
        && grown.is_empty()
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
        growth_per_minute: resources::growth(&samples),
        resources: samples,
        grown,
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
        "{:<12} {:>9} {:>9} {:>10} {:>9} {:>6}  errors of calls under way in the fault, by kind",
        "fault", "at", "lasted", "recovered", "longest", "hung"
    );
    for f in &report.faults {
        let recovered =
            f.recovered_ms.map_or("NO".to_string(), |ms| human(Duration::from_secs_f64(ms.max(0.0) / 1000.0)));
        println!(
            "{:<12} {:>9} {:>9} {:>10} {:>9} {:>6}  {}",
            f.fault.name(),
            human(Duration::from_millis(f.at_ms)),
            human(Duration::from_millis(f.lasted_ms)),
            recovered,
            human(Duration::from_secs_f64(f.longest_call_ms / 1000.0)),
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
    print_resources(report);
    println!();
    if report.ok {
        println!("No panic, no hung call, no wrong value, no lock left, nothing grew; recovered from every fault.");
    }
}

fn print_resources(report: &Report) {
    println!();
    println!(
        "{:<24} {:>9} {:>10} {:>6} {:>8} {:>6} {:>7}",
        "resources", "at", "RSS", "fds", "clients", "tasks", "locked"
    );
    for s in &report.resources {
        let r = &s.resources;
        println!(
            "{:<24} {:>9} {:>7} MiB {:>6} {:>8} {:>6} {:>7}",
            s.when,
            human(Duration::from_millis(s.at_ms)),
            format!("{:.1}", r.rss_kib as f64 / 1024.0),
            r.fds,
            r.server_clients,
            r.tasks,
            r.locked_keys
        );
    }
    if let Some(g) = &report.growth_per_minute {
        println!(
            "growth per minute over {:.1} min after the warm-up: RSS {:+.2} MiB, fds {:+.2}, clients {:+.2}, tasks {:+.2}, locked {:+.2}",
            g.minutes,
            g.rss_kib / 1024.0,
            g.fds,
            g.server_clients,
            g.tasks,
            g.locked_keys
        );
    }
    for grown in &report.grown {
        println!("  grew: {grown}");
    }
}
