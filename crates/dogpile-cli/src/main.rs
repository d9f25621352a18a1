//! `dogpile`: the runnable face of the dogpile cache library.

mod bench;
mod chaos;
mod demo;
mod duration;
mod inspect;
mod memory_report;
mod metrics_endpoint;
mod progress;
mod scenarios;
mod stats;
mod target;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Read-through caching with the dogpile lock: demonstrations and measurements.
#[derive(Debug, Parser)]
#[command(name = "dogpile", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sends many concurrent callers at keys that keep expiring, with and without the dogpile
    /// lock, and shows how many creator runs the lock saved.
    Demo(demo::DemoArgs),
    /// Measures the standard workloads through dogpile and straight on the `redis` crate, side
    /// by side, and prints ops/s, latency, round trips and Redis commands per operation.
    Bench(bench::BenchArgs),
    /// Stores the seed's demo data set under each storage strategy and prints the Redis
    /// memory each takes.
    MemoryReport(memory_report::MemoryReportArgs),
    /// Keeps callers reading through the cache while its Redis is killed, paused, starved of
    /// memory and re-keyed, and prints errors by kind, hung calls, wrong values and recovery
    /// times.
    Chaos(chaos::ChaosArgs),
    /// Shows what is stored at a key, read-only: the format (dogpile-rs's, dogpile.cache's or
    /// the Python plugin's), the value as JSON, its creation time and age, the Redis TTL and
    /// the key's lock; or, with --scan, the keys of a pattern by format and size.
    Inspect(inspect::InspectArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::MemoryReport(args) => memory_report::run(args),
        Command::Chaos(args) => chaos::run(args),
        Command::Inspect(args) => inspect::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dogpile: {message}");
            ExitCode::from(2)
        }
    }
}
