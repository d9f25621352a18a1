//! The hit ratio of the bounded memory backend beside moka's, on Zipf-distributed streams:
//! 2,000,000 reads over 1,000,000 keys with a capacity of 10,000 entries, a miss writing the
//! key as a read-through cache does.
//!
//! Run with `cargo run --release -p dogpile --example hit_ratio`.

use dogpile::backend::{Backend, MemoryBackend};
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
    println!("| stream | memory backend | moka 0.12 |");
    println!("|---|---:|---:|");
    for s in [0.9, 1.1] {
        let keys: Vec<CacheKey> = {
            let mut zipf = Zipf::new(KEYS, s, 0x9E37_79B9_7F4A_7C15);
            (0..REQUESTS).map(|_| CacheKey::from(format!("key:{}", zipf.next()))).collect()
        };
        let value = Bytes::from_static(b"value");

        let backend = MemoryBackend::builder().capacity(CAPACITY).build();
        let mut hits = 0usize;
        for key in &keys {
            match backend.get(key).await? {
                Some(_) => hits += 1,
                None => backend.set(key, value.clone()).await?,
            }
        }
        let ours = hits as f64 / REQUESTS as f64;

        let moka: moka::sync::Cache<CacheKey, Bytes> = moka::sync::Cache::new(CAPACITY as u64);
        let mut hits = 0usize;
        for key in &keys {
            match moka.get(key) {
                Some(_) => hits += 1,
                None => moka.insert(key.clone(), value.clone()),
            }
        }
        let theirs = hits as f64 / REQUESTS as f64;
        println!("| Zipf s={s} | {ours:.3} | {theirs:.3} |");
    }
    Ok(())
}
