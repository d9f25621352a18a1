//! What a chaos run holds, sampled at the start and the end of every phase: the process's
//! resident memory and open descriptors, the connections the server sees, the runtime's live
//! tasks and the region's lock table. After the warm-up none of them may grow with time.

use std::time::Duration;

use dogpile::Region;
use serde::Serialize;

use super::server::Server;

/// One sample.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Resources {
    /// Resident memory, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Clients the server lists (`CLIENT LIST`), the sampler's own left out.
    pub server_clients: u64,
    /// Tasks alive on the run's runtime.
    pub tasks: u64,
    /// Keys in the region's in-process lock table.
    pub locked_keys: u64,
}

/// A sample, named by when it was taken.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// `start`, `<fault> begins`, `<fault> recovered`, `end`.
    pub when: String,
    pub at_ms: u64,
    /// Taken while no fault was under way or being recovered from.
    pub quiet: bool,
    #[serde(flatten)]
    pub resources: Resources,
}

/// Growth per minute of each measure, between the first quiet sample after the warm-up and the
/// last quiet one.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Growth {
    pub minutes: f64,
    pub rss_kib: f64,
    pub fds: f64,
    pub server_clients: f64,
    pub tasks: f64,
    pub locked_keys: f64,
}

/// What the process and the server hold now; a measure that cannot be read is 0.
pub fn sample(runtime: &tokio::runtime::Runtime, server: &Server, region: &Region) -> Resources {
    Resources {
        rss_kib: rss_kib().unwrap_or(0),
        fds: std::fs::read_dir("/proc/self/fd").map(|dir| dir.count() as u64).unwrap_or(0),
        server_clients: server.clients().unwrap_or(0),
        tasks: runtime.metrics().num_alive_tasks() as u64,
        locked_keys: region.locked_keys() as u64,
    }
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One measure of a sample.
type Measure = fn(&Resources) -> u64;

/// The growth per minute over the quiet samples after the first (the warm-up: connections,
/// scripts and the allocator's first arenas); `None` with fewer than two of them or no time
/// between.
pub fn growth(samples: &[Sample]) -> Option<Growth> {
    let quiet: Vec<&Sample> = samples.iter().filter(|s| s.quiet).skip(1).collect();
    let (first, last) = (quiet.first()?, quiet.last()?);
    let minutes = Duration::from_millis(last.at_ms.saturating_sub(first.at_ms)).as_secs_f64() / 60.0;
    if minutes <= 0.0 {
        return None;
    }
    let per_minute = |f: Measure| (f(&last.resources) as f64 - f(&first.resources) as f64) / minutes;
    Some(Growth {
        minutes,
        rss_kib: per_minute(|r| r.rss_kib),
        fds: per_minute(|r| r.fds),
        server_clients: per_minute(|r| r.server_clients),
        tasks: per_minute(|r| r.tasks),
        locked_keys: per_minute(|r| r.locked_keys),
    })
}

/// The measures whose last quiet sample exceeds the first after the warm-up by more than their
/// slack: a few descriptors and connections, the tasks of the callers in flight at a sampling
/// moment and the keys they lock (`in_flight_keys`), and for memory 16 MiB (the allocator's
/// arenas settle well under that).
pub fn grown(samples: &[Sample], callers: usize, in_flight_keys: usize) -> Vec<String> {
    let quiet: Vec<&Sample> = samples.iter().filter(|s| s.quiet).skip(1).collect();
    let (Some(first), Some(last)) = (quiet.first(), quiet.last()) else { return Vec::new() };
    let callers = callers as u64;
    let limits: [(&str, Measure, u64); 5] = [
        ("resident memory (KiB)", |r| r.rss_kib, 16 * 1024),
        ("open descriptors", |r| r.fds, 8),
        ("server clients", |r| r.server_clients, 4),
        ("live tasks", |r| r.tasks, 2 * callers + 16),
        ("locked keys", |r| r.locked_keys, in_flight_keys as u64),
    ];
    limits
        .into_iter()
        .filter(|(_, of, slack)| of(&last.resources) > of(&first.resources) + slack)
        .map(|(name, of, _)| {
            format!("{name}: {} at {}, {} at {}", of(&first.resources), first.when, of(&last.resources), last.when)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, quiet: bool, fds: u64) -> Sample {
        Sample { when: format!("t{at_ms}"), at_ms, quiet, resources: Resources { fds, ..Resources::default() } }
    }

    #[test]
    fn growth_is_counted_after_the_warm_up_over_quiet_samples() {
        let samples =
            [sample(0, true, 5), sample(60_000, true, 20), sample(90_000, false, 500), sample(180_000, true, 26)];
        let per_minute = growth(&samples).unwrap();
        assert_eq!(per_minute.minutes, 2.0);
        assert_eq!(per_minute.fds, 3.0);
        assert!(grown(&samples, 4, 20).is_empty());
        let leaking = [sample(0, true, 5), sample(60_000, true, 20), sample(120_000, true, 40)];
        assert_eq!(grown(&leaking, 4, 20).len(), 1, "{:?}", grown(&leaking, 4, 20));
        assert!(growth(&samples[..2]).is_none());
    }
}
