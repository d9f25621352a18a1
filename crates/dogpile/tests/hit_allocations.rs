//! A hit on an in-process store allocates nothing but the value it returns: the key is read as
//! the caller gave it, and the read is answered without a future on the heap.
//!
//! One test in this binary: the allocator's counts are global.

use std::time::Duration;

use dogpile::backend::{Backend, L1Backend, MemoryBackend};
use dogpile::{CacheKey, Region};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region as Counted, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

fn region(backend: impl Backend) -> Region {
    Region::builder().backend(backend).expiration_time(Duration::from_secs(3600)).build().unwrap()
}

fn regions() -> Vec<(&'static str, Region)> {
    vec![
        ("memory", region(MemoryBackend::default())),
        ("memory with a capacity", region(MemoryBackend::builder().capacity(100).build())),
        ("L1 over memory", region(L1Backend::builder().capacity(100).build(MemoryBackend::default()))),
    ]
}

#[test]
fn hits_allocate_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        for (name, region) in regions() {
            let hash = ("users", "42");
            region.set("plain", &1u64).await.unwrap();
            region.set(hash, &2u64).await.unwrap();
            let owned = CacheKey::from("plain");
            let hits = async || {
                let create = || async { Ok::<u64, std::io::Error>(0) };
                let a: u64 = region.get_or_create("plain", create).await.unwrap();
                let b: u64 = region.get_or_create(hash, create).await.unwrap();
                let c: u64 = region.get_or_create(&owned, create).await.unwrap();
                let d: Option<u64> = region.get("plain").await.unwrap();
                assert_eq!((a, b, c, d), (1, 2, 1, Some(1)), "{name}");
            };
            // The first call sets up what a thread keeps (the stats' stripe).
            hits().await;
            let counted = Counted::new(GLOBAL);
            for _ in 0..100 {
                hits().await;
            }
            let change = counted.change();
            assert_eq!(change.allocations + change.reallocations, 0, "{name}: {change:?}");
            assert_eq!(region.stats().creates, 0, "{name}");
        }
    });
}
