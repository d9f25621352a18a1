//! The region's hot path on the memory backend: a hit through `get_or_create` and `get`.
//!
//! `cargo bench -p dogpile --bench region`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dogpile::Region;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Small {
    id: u64,
    name: String,
    score: f64,
}

fn small() -> Small {
    Small { id: 42, name: "a small cached row".into(), score: 0.5 }
}

/// Times `iters` calls inside one `block_on`, so the runtime's entry cost is not measured.
fn per_call<F>(rt: &tokio::runtime::Runtime, iters: u64, mut call: F) -> Duration
where
    F: AsyncFnMut(),
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            call().await;
        }
        start.elapsed()
    })
}

fn region_hits(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let region = Region::builder().expiration_time(Duration::from_secs(3600)).build().unwrap();
    rt.block_on(region.set("hot", &small())).unwrap();

    c.bench_function("memory get_or_create hit (msgpack, seed envelope)", |b| {
        b.iter_custom(|iters| {
            per_call(&rt, iters, async || {
                let v: Small =
                    region.get_or_create("hot", || async { Ok::<_, std::io::Error>(small()) }).await.unwrap();
                black_box(v);
            })
        })
    });
    c.bench_function("memory get hit (msgpack, seed envelope)", |b| {
        b.iter_custom(|iters| {
            per_call(&rt, iters, async || {
                black_box(region.get::<Small>("hot").await.unwrap());
            })
        })
    });
}

criterion_group!(benches, region_hits);
criterion_main!(benches);
