//! `dogpile bench`: the standard workloads through dogpile and straight on the `redis` crate,
//! side by side in one run: on one server ([`standalone`]), on a private cluster
//! ([`cluster`]), the L1's eviction delay ([`l1`]), the delay of a tag invalidation ([`tags`]),
//! compressed 10 KiB documents ([`compression`]), and many tasks' hits spread over many keys or
//! on a few hot ones ([`spread`]).

mod cluster;
mod compression;
mod harness;
mod l1;
mod spread;
mod standalone;
mod tags;

use std::time::Duration;

use crate::duration;
use crate::target::Target;
use harness::err;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// The Redis to measure against (its data under `bench:` is overwritten).
    #[arg(long)]
    url: Option<String>,
    /// Start a private redis-server for the run instead.
    #[arg(long)]
    spawn: bool,
    /// Measure on a private Redis Cluster of 3 primaries instead: multi-key reads over the
    /// nodes and the hit path, against a raw twin that builds the per-node pipelines itself.
    #[arg(long)]
    spawn_cluster: bool,
    /// How long each workload runs, per layer.
    #[arg(long, default_value = "2s", value_parser = duration::parse)]
    duration: Duration,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Run only the workloads whose name contains this.
    #[arg(long)]
    only: Option<String>,
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    if args.spawn_cluster {
        if args.spawn || args.url.is_some() {
            return Err("give one of --url, --spawn and --spawn-cluster".into());
        }
        return cluster::run(args.duration, args.json);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let target = Target::new(args.url.clone(), args.spawn)?;
    let rows = runtime.block_on(standalone::measure_all(&args, &target))?;
    let eviction = match args.only.as_deref().is_none_or(|only| "get_or_create_hit_l1".contains(only)) {
        true => Some(runtime.block_on(l1::eviction_delay(&target.url))?),
        false => None,
    };
    let tag_delay = match args.only.as_deref().is_none_or(|only| "get_or_create_hit_tagged".contains(only)) {
        true => Some(runtime.block_on(tags::invalidation_delay(&target.url))?),
        false => None,
    };
    if args.json {
        let json = serde_json::json!({
            "rows": rows,
            "duration_s": args.duration.as_secs_f64(),
            "l1_eviction_after_foreign_write": eviction,
            "miss_after_invalidate_tags_elsewhere": tag_delay,
        });
        println!("{}", serde_json::to_string_pretty(&json).map_err(err)?);
    } else {
        standalone::print_table(&rows, &args, &target);
        if let Some(delay) = eviction {
            println!();
            println!(
                "L1 eviction after a write by another client ({} writes, from issuing the SET): p50 {:.0} µs, p99 {:.0} µs",
                delay.writes, delay.p50_us, delay.p99_us
            );
        }
        if let Some(delay) = tag_delay {
            println!(
                "First miss in another region after invalidate_tags ({} invalidations, from issuing it): p50 {:.0} µs, p99 {:.0} µs",
                delay.writes, delay.p50_us, delay.p99_us
            );
        }
    }
    Ok(())
}
