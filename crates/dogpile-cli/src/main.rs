//! `dogpile`: the runnable face of the dogpile cache library.

mod demo;
mod duration;
mod stats;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Demo(args) => demo::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dogpile: {message}");
            ExitCode::from(2)
        }
    }
}
