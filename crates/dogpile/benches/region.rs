//! The region's hot path on the memory backend: a hit through `get_or_create` and `get`; and
//! the same hit beside moka's `get_with` (the field's in-process cache) and beside the store
//! read and decode that a hit cannot do without (the difference is the region layer), on one
//! thread and on two.
//!
//! `cargo bench -p dogpile --bench region`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dogpile::backend::{Backend, MemoryBackend};
use dogpile::codec::Codec;
use dogpile::{CacheKey, Region};
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

/// Times `iters` calls on each of `threads` threads at once (each with its own runtime): the
/// time per call as each thread sees it.
fn on_threads<F>(threads: usize, iters: u64, call: F) -> Duration
where
    F: Fn() -> Box<dyn FnMut(&tokio::runtime::Runtime, u64) -> Duration + Send> + Sync,
{
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let mut run = call();
                scope.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    run(&rt, iters)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).max().unwrap_or_default()
    })
}

fn beside_moka(c: &mut Criterion) {
    let mut group = c.benchmark_group("hit beside moka");
    let store = MemoryBackend::default();
    let codec = Codec::default();
    let unbounded =
        Region::builder().backend(store.clone()).expiration_time(Duration::from_secs(3600)).build().unwrap();
    let bounded = Region::builder()
        .backend(MemoryBackend::builder().capacity(10_000).build())
        .expiration_time(Duration::from_secs(3600))
        .build()
        .unwrap();
    let moka: moka::sync::Cache<String, Small> = moka::sync::Cache::new(10_000);
    let setup = tokio::runtime::Builder::new_current_thread().build().unwrap();
    for region in [&unbounded, &bounded] {
        setup.block_on(region.set("hot", &small())).unwrap();
    }
    moka.insert("hot".to_string(), small());

    for threads in [1, 2] {
        for (name, region) in [("region, unbounded", &unbounded), ("region, capacity 10,000", &bounded)] {
            group.bench_function(format!("{name}, get_or_create, {threads} thread(s)"), |b| {
                b.iter_custom(|iters| {
                    on_threads(threads, iters, || {
                        let region = region.clone();
                        Box::new(move |rt, iters| {
                            per_call(rt, iters, async || {
                                let v: Small = region
                                    .get_or_create("hot", || async { Ok::<_, std::io::Error>(small()) })
                                    .await
                                    .unwrap();
                                black_box(v);
                            })
                        })
                    })
                })
            });
        }
        // What a hit cannot do without: the store's read and the value's decode, with a key
        // built once. A region hit minus this is the region layer's own cost.
        group.bench_function(format!("store read + decode alone, {threads} thread(s)"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, || {
                    let (store, codec) = (store.clone(), codec.clone());
                    Box::new(move |_, iters| {
                        let key = CacheKey::from("hot");
                        let start = Instant::now();
                        for _ in 0..iters {
                            let bytes = store.get_ready(black_box(key.as_key_ref())).unwrap().unwrap().unwrap();
                            black_box(codec.decode::<Small>(&bytes, 0.0).unwrap());
                        }
                        start.elapsed()
                    })
                })
            })
        });
        group.bench_function(format!("moka 0.12 sync get_with, {threads} thread(s)"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, || {
                    let moka = moka.clone();
                    Box::new(move |_, iters| {
                        let start = Instant::now();
                        for _ in 0..iters {
                            black_box(moka.get_with("hot".to_string(), small));
                        }
                        start.elapsed()
                    })
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, region_hits, beside_moka);
criterion_main!(benches);
