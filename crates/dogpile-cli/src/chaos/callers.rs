//! The callers of a chaos run: each loops over the cache's operations, checks every value it
//! gets, and tallies what it saw by phase: a call belongs to the fault under way when it began
//! or ended, and to the quiet phase otherwise.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dogpile::{CacheKey, Error, Region};
use serde::{Deserialize, Serialize};

/// What the callers and the fault schedule share.
pub struct Shared {
    pub started: Instant,
    pub stop: AtomicBool,
    /// 0 while quiet, `n + 1` from the start of fault `n` until the cache has recovered.
    pub phase: AtomicUsize,
    /// A call begun at or after this (nanoseconds since `started`) that succeeds marks the
    /// recovery; `u64::MAX` when no recovery is awaited.
    pub recovery_mark: AtomicU64,
    /// When the first such call ended (nanoseconds since `started`), or `u64::MAX`.
    pub recovered_at: AtomicU64,
    pub calls: AtomicU64,
    pub creator_runs: AtomicU64,
}

impl Shared {
    pub fn new() -> Self {
        Shared {
            started: Instant::now(),
            stop: AtomicBool::new(false),
            phase: AtomicUsize::new(0),
            recovery_mark: AtomicU64::new(u64::MAX),
            recovered_at: AtomicU64::new(u64::MAX),
            calls: AtomicU64::new(0),
            creator_runs: AtomicU64::new(0),
        }
    }

    pub fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_nanos()).unwrap_or(u64::MAX - 1)
    }
}

/// What the callers saw, by phase.
#[derive(Debug, Default)]
pub struct Tally {
    pub calls: u64,
    /// (phase, error kind) -> count.
    pub errors: BTreeMap<(usize, String), u64>,
    /// phase -> calls that did not end within the hang limit.
    pub hung: BTreeMap<usize, u64>,
    /// phase -> the longest call that ended.
    pub longest: BTreeMap<usize, Duration>,
    pub wrong: u64,
    /// The first few wrong values, described.
    pub wrong_examples: Vec<String>,
}

impl Tally {
    pub fn merge(&mut self, other: Tally) {
        self.calls += other.calls;
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        for (k, n) in other.hung {
            *self.hung.entry(k).or_default() += n;
        }
        for (k, took) in other.longest {
            self.took(k, took);
        }
        self.wrong += other.wrong;
        for example in other.wrong_examples {
            if self.wrong_examples.len() < 5 {
                self.wrong_examples.push(example);
            }
        }
    }

    fn took(&mut self, phase: usize, took: Duration) {
        let longest = self.longest.entry(phase).or_default();
        *longest = (*longest).max(took);
    }

    fn wrong_value(&mut self, what: String) {
        self.wrong += 1;
        if self.wrong_examples.len() < 5 {
            self.wrong_examples.push(what);
        }
    }
}

/// The value stored at a key: it names its key, so a value served for another key (a reply
/// matched to the wrong request, a mixed-up batch) is seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    key: String,
    n: u64,
}

/// The keys of a run: plain keys and fields of a few hashes, interleaved.
pub fn keys(count: usize) -> Vec<CacheKey> {
    (0..count)
        .map(|i| {
            if i % 2 == 0 {
                CacheKey::from(format!("chaos:k{i}"))
            } else {
                CacheKey::hash(format!("chaos:h{}", i % 8), format!("f{i}"))
            }
        })
        .collect()
}

/// The pattern of the run's lock names.
pub const LOCK_PATTERN: &str = "_lockchaos:*";

/// Settings of one caller.
#[derive(Clone)]
pub struct Caller {
    pub region: Region,
    pub keys: Arc<Vec<CacheKey>>,
    pub shared: Arc<Shared>,
    pub hang_after: Duration,
    pub creator_time: Duration,
}

/// The keys of one call.
pub const BATCH: usize = 5;

impl Caller {
    /// Loops until told to stop.
    pub async fn run(self, id: u64) -> Tally {
        let mut tally = Tally::default();
        let mut rng = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut op = id as usize;
        while !self.shared.stop.load(Ordering::Relaxed) {
            let picks: Vec<CacheKey> = (0..BATCH)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    self.keys[(rng % self.keys.len() as u64) as usize].clone()
                })
                .collect();
            op = op.wrapping_add(1);
            let phase = self.shared.phase.load(Ordering::Relaxed);
            let began = Instant::now();
            let outcome = tokio::time::timeout(self.hang_after, self.call(op % 4, picks)).await;
            // A call under way when a fault began belongs to that fault.
            let phase = match self.shared.phase.load(Ordering::Relaxed) {
                0 => phase,
                now => now,
            };
            tally.calls += 1;
            self.shared.calls.fetch_add(1, Ordering::Relaxed);
            if outcome.is_ok() {
                tally.took(phase, began.elapsed());
            }
            match outcome {
                Err(_) => *tally.hung.entry(phase).or_default() += 1,
                Ok(Err(err)) => *tally.errors.entry((phase, kind(&err))).or_default() += 1,
                Ok(Ok(wrong)) => {
                    for what in wrong {
                        tally.wrong_value(what);
                    }
                    let began = self.shared.nanos(began);
                    if began >= self.shared.recovery_mark.load(Ordering::SeqCst) {
                        self.shared.recovered_at.fetch_min(self.shared.nanos(Instant::now()), Ordering::SeqCst);
                    }
                }
            }
            tokio::task::yield_now().await;
        }
        tally
    }

    /// One operation; `Ok` holds the wrong values it got, described.
    async fn call(&self, op: usize, keys: Vec<CacheKey>) -> Result<Vec<String>, Error> {
        let shared = &self.shared;
        let creator_time = self.creator_time;
        let make = |key: &CacheKey| {
            let n = shared.creator_runs.fetch_add(1, Ordering::Relaxed);
            Entry { key: key.to_string(), n }
        };
        match op {
            0 => {
                let key = &keys[0];
                let entry: Entry = self
                    .region
                    .get_or_create(key, || async {
                        tokio::time::sleep(creator_time).await;
                        Ok::<_, std::io::Error>(make(key))
                    })
                    .await?;
                Ok(check(key, Some(&entry)).into_iter().collect())
            }
            1 => {
                let found: Vec<Option<Entry>> = self.region.get_multi(&keys).await?;
                Ok(check_all(&keys, found.iter().map(Option::as_ref), found.len()))
            }
            2 => {
                let made: Vec<Entry> = self
                    .region
                    .get_or_create_multi(&keys, |missing: Vec<CacheKey>| async move {
                        tokio::time::sleep(creator_time).await;
                        Ok::<_, std::io::Error>(missing.iter().map(make).collect())
                    })
                    .await?;
                Ok(check_all(&keys, made.iter().map(Some), made.len()))
            }
            _ => {
                let key = &keys[0];
                self.region.set(key, &make(key)).await?;
                Ok(Vec::new())
            }
        }
    }
}

fn check(key: &CacheKey, entry: Option<&Entry>) -> Option<String> {
    let expected = key.to_string();
    match entry {
        Some(entry) if entry.key != expected => Some(format!("{expected} gave the value of {}", entry.key)),
        _ => None,
    }
}

fn check_all<'a>(keys: &[CacheKey], got: impl Iterator<Item = Option<&'a Entry>>, len: usize) -> Vec<String> {
    let mut wrong: Vec<String> = keys.iter().zip(got).filter_map(|(key, entry)| check(key, entry)).collect();
    if len != keys.len() {
        wrong.push(format!("{} keys gave {len} values", keys.len()));
    }
    wrong
}

/// The error's kind, for the tally.
pub fn kind(err: &Error) -> String {
    if let Some(kind) = err.backend_kind() {
        return format!("{kind:?}");
    }
    match err {
        Error::LockTimeout { .. } => "LockTimeout",
        Error::LockLost { .. } => "LockLost",
        Error::Codec { .. } => "Codec",
        Error::Creator { .. } => "Creator",
        _ => "Other",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> Entry {
        Entry { key: key.into(), n: 0 }
    }

    #[test]
    fn a_value_of_another_key_is_wrong() {
        let keys = keys(4);
        assert_eq!(check(&keys[0], Some(&entry("chaos:k0"))), None);
        assert_eq!(check(&keys[0], None), None);
        assert!(check(&keys[0], Some(&entry("chaos:k2"))).is_some());
        let got = [entry(&keys[1].to_string()), entry(&keys[0].to_string())];
        let wrong = check_all(&keys[..2], got.iter().map(Some), 2);
        assert_eq!(wrong.len(), 2, "{wrong:?}");
        let wrong = check_all(&keys[..2], got[..1].iter().map(Some), 1);
        assert!(wrong.iter().any(|w| w.contains("2 keys gave 1 values")), "{wrong:?}");
    }

    #[test]
    fn error_kinds_are_named() {
        let timeout = Error::LockTimeout { key: None, waited: Duration::from_secs(1) };
        assert_eq!(kind(&timeout), "LockTimeout");
        assert_eq!(kind(&Error::backend(dogpile::BackendErrorKind::WritesRefused, "OOM")), "WritesRefused");
    }
}
