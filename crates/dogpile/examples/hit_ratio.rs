//! The hit ratio of the bounded memory backend and of the L1 beside moka's, on
//! Zipf-distributed streams:
//! 2,000,000 reads over 1,000,000 keys with a capacity of 10,000 entries, a miss writing the
//! key as a read-through cache does. Then the memory each store takes per entry, from the
//! process's resident size before and after 1,000,000 entries (Linux).
//!
//! Run with `cargo run --release -p dogpile --example hit_ratio`.

use dogpile::backend::{Backend, L1Backend, MemoryBackend, NullBackend};
use dogpile::{Bytes, CacheKey};

const KEYS: usize = 1_000_000;
const REQUESTS: usize = 2_000_000;
const CAPACITY: usize = 10_000;

/// Key ranks drawn with probability proportional to 1 / rank^s.
struct Zipf {
    cdf: Vec<f64>,
    state: u64,
}

impl Zipf {
    fn new(keys: usize, s: f64, seed: u64) -> Self {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (1..=keys)
            .map(|rank| {
                total += 1.0 / (rank as f64).powf(s);
                total
            })
            .collect();
        cdf.iter_mut().for_each(|c| *c /= total);
        Zipf { cdf, state: seed }
    }

    fn next(&mut self) -> usize {
        // xorshift64*: a reproducible stream.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let unit = (self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.partition_point(|c| *c < unit)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> dogpile::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, store] = args.as_slice()
        && flag == "--bytes-per-entry"
    {
        println!("{}", bytes_per_entry(store).await?);
        return Ok(());
    }
    println!("| stream | memory backend | L1 | moka 0.12 |");
    println!("|---|---:|---:|---:|");
    for s in [0.9, 1.1] {
        let keys: Vec<CacheKey> = {
            let mut zipf = Zipf::new(KEYS, s, 0x9E37_79B9_7F4A_7C15);
            (0..REQUESTS).map(|_| CacheKey::from(format!("key:{}", zipf.next()))).collect()
        };
        let value = Bytes::from_static(b"value");

        let ours = read_through(&MemoryBackend::builder().capacity(CAPACITY).build(), &keys, &value).await?;
        // The L1 in front of a backend that keeps nothing: what it holds is what its policy kept.
        let l1 = read_through(&L1Backend::builder().capacity(CAPACITY).build(NullBackend), &keys, &value).await?;

        let moka: moka::sync::Cache<CacheKey, Bytes> = moka::sync::Cache::new(CAPACITY as u64);
        let mut hits = 0usize;
        for key in &keys {
            match moka.get(key) {
                Some(_) => hits += 1,
                None => moka.insert(key.clone(), value.clone()),
            }
        }
        let theirs = hits as f64 / REQUESTS as f64;
        println!("| Zipf s={s} | {ours:.3} | {l1:.3} | {theirs:.3} |");
    }

    println!("\n| store, {ENTRIES} entries (10-byte keys, 5-byte values) | bytes per entry |");
    println!("|---|---:|");
    // Each store in a process of its own: memory freed by one would be reused by the next
    // without the resident size moving.
    let exe = std::env::current_exe().map_err(|e| dogpile::Error::config("example", e.to_string()))?;
    for (store, name) in STORES {
        let out = std::process::Command::new(&exe)
            .args(["--bytes-per-entry", store])
            .output()
            .map_err(|e| dogpile::Error::config("example", e.to_string()))?;
        println!("| {name} | {} |", String::from_utf8_lossy(&out.stdout).trim());
    }
    Ok(())
}

/// The hit ratio of `backend` as a read-through cache of `keys`.
async fn read_through(backend: &impl Backend, keys: &[CacheKey], value: &Bytes) -> dogpile::Result<f64> {
    let mut hits = 0usize;
    for key in keys {
        match backend.get(key).await? {
            Some(_) => hits += 1,
            None => backend.set(key, value.clone()).await?,
        }
    }
    Ok(hits as f64 / keys.len() as f64)
}

const ENTRIES: usize = 1_000_000;
const STORES: [(&str, &str); 4] = [
    ("unbounded", "memory backend, unbounded"),
    ("bounded", "memory backend, capacity 1,000,000"),
    ("l1", "L1, capacity 1,000,000"),
    ("moka", "moka 0.12, capacity 1,000,000"),
];

/// The growth of the resident size per entry while `store` takes [`ENTRIES`] entries.
async fn bytes_per_entry(store: &str) -> dogpile::Result<usize> {
    let keys: Vec<CacheKey> = (0..ENTRIES).map(|i| CacheKey::from(format!("key:{i}"))).collect();
    let value = Bytes::from_static(b"value");
    let before = resident_bytes();
    let backend: MemoryBackend = match store {
        "moka" => {
            let moka: moka::sync::Cache<CacheKey, Bytes> = moka::sync::Cache::new(ENTRIES as u64);
            for key in &keys {
                moka.insert(key.clone(), value.clone());
            }
            moka.run_pending_tasks();
            let grown = resident_bytes() - before;
            return Ok(grown / (moka.entry_count() as usize).max(1));
        }
        "l1" => {
            let l1 = L1Backend::builder().capacity(ENTRIES).build(NullBackend);
            for key in &keys {
                l1.set(key, value.clone()).await?;
            }
            let grown = resident_bytes() - before;
            return Ok(grown / (l1.stats().entries as usize).max(1));
        }
        "bounded" => MemoryBackend::builder().capacity(ENTRIES).build(),
        _ => MemoryBackend::default(),
    };
    for key in &keys {
        backend.set(key, value.clone()).await?;
    }
    Ok((resident_bytes() - before) / backend.len().max(1))
}

/// The process's resident memory in bytes (0 where /proc is not there).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}
