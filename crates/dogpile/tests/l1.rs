//! The L1 in front of a backend: what it serves, what drops its entries, and the races
//! between a read in flight and an invalidation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dogpile::backend::{Backend, L1Backend, L1Status, MemoryBackend};
use dogpile::{Bytes, CacheKey, Region, Result};
use tokio::sync::Notify;

/// The signal that a held read has read, and the one that lets it return.
type Hold = (Arc<Notify>, Arc<Notify>);

/// A memory backend that counts the reads that reach it, and can hold a read until released.
#[derive(Debug, Clone, Default)]
struct Behind {
    store: MemoryBackend,
    reads: Arc<AtomicUsize>,
    hold: Arc<std::sync::Mutex<Option<Hold>>>,
}

impl Behind {
    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// The next read signals `started` once it has read, then waits for `release`.
    fn hold_next_read(&self) -> Hold {
        let pair = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        *self.hold.lock().unwrap() = Some(pair.clone());
        pair
    }
}

impl Backend for Behind {
    fn name(&self) -> &'static str {
        "behind"
    }
    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let value = self.store.get(key).await?;
        let hold = self.hold.lock().unwrap().take();
        if let Some((started, release)) = hold {
            started.notify_one();
            release.notified().await;
        }
        Ok(value)
    }
    async fn set(&self, key: &CacheKey, value: Bytes) -> Result<()> {
        self.store.set(key, value).await
    }
    async fn delete(&self, key: &CacheKey) -> Result<()> {
        self.store.delete(key).await
    }
}

fn key(k: &str) -> CacheKey {
    CacheKey::from(k)
}

fn v(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

#[tokio::test]
async fn a_value_read_once_is_served_from_memory() {
    let behind = Behind::default();
    behind.store.set(&key("k"), v("1")).await.unwrap();
    let l1 = L1Backend::builder().build(behind.clone());
    for _ in 0..5 {
        assert_eq!(l1.get(&key("k")).await.unwrap(), Some(v("1")));
    }
    assert_eq!(behind.reads(), 1);
    let stats = l1.stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (4, 1, 1));
    // A miss in the backend is not kept: the next read asks again.
    assert_eq!(l1.get(&key("none")).await.unwrap(), None);
    assert_eq!(l1.get(&key("none")).await.unwrap(), None);
    assert_eq!(behind.reads(), 3);
}

#[tokio::test]
async fn writes_and_deletes_made_here_update_the_l1() {
    let behind = Behind::default();
    let l1 = L1Backend::builder().build(behind.clone());
    l1.set(&key("k"), v("1")).await.unwrap();
    assert_eq!(l1.get(&key("k")).await.unwrap(), Some(v("1")));
    l1.set_multi(&[(key("k"), v("2")), (key("j"), v("3"))]).await.unwrap();
    assert_eq!(l1.get_multi(&[key("k"), key("j")]).await.unwrap(), vec![Some(v("2")), Some(v("3"))]);
    assert_eq!(behind.reads(), 0, "written values are served from the L1");
    l1.delete(&key("k")).await.unwrap();
    assert_eq!(l1.get(&key("k")).await.unwrap(), None);
    l1.delete_multi(&[key("j")]).await.unwrap();
    assert_eq!(l1.get(&key("j")).await.unwrap(), None);
    assert_eq!(behind.reads(), 2);
}

#[tokio::test]
async fn an_invalidated_name_is_read_again_with_every_field_of_a_hash() {
    let behind = Behind::default();
    let l1 = L1Backend::builder().build(behind.clone());
    let fields = [CacheKey::hash("h", "a"), CacheKey::hash("h", "b")];
    for field in &fields {
        behind.store.set(field, v("old")).await.unwrap();
    }
    behind.store.set(&key("k"), v("old")).await.unwrap();
    l1.get_multi(&[fields[0].clone(), fields[1].clone(), key("k")]).await.unwrap();
    // Written elsewhere: the backend changes, the invalidation source names the hash.
    for field in &fields {
        behind.store.set(field, v("new")).await.unwrap();
    }
    behind.store.set(&key("k"), v("new")).await.unwrap();
    assert_eq!(l1.get(&fields[0]).await.unwrap(), Some(v("old")), "no invalidation yet");
    l1.invalidator().invalidate(b"h");
    assert_eq!(l1.get_multi(&fields).await.unwrap(), vec![Some(v("new")), Some(v("new"))]);
    assert_eq!(l1.get(&key("k")).await.unwrap(), Some(v("old")), "another name stays");
    l1.invalidator().invalidate(b"k");
    assert_eq!(l1.get(&key("k")).await.unwrap(), Some(v("new")));
    assert_eq!(l1.stats().invalidations, 2);
}

/// An L1 over `k = "old"`, a read of `k` that has read its value and waits for the returned
/// release, and the read's task.
async fn a_read_in_flight() -> (Behind, L1Backend<Behind>, Arc<Notify>, tokio::task::JoinHandle<Result<Option<Bytes>>>)
{
    let behind = Behind::default();
    behind.store.set(&key("k"), v("old")).await.unwrap();
    let l1 = L1Backend::builder().build(behind.clone());
    let (started, release) = behind.hold_next_read();
    let reader = tokio::spawn({
        let l1 = l1.clone();
        async move { l1.get(&key("k")).await }
    });
    started.notified().await;
    (behind, l1, release, reader)
}

#[tokio::test]
async fn a_read_in_flight_during_an_invalidation_is_not_kept() {
    let (behind, l1, release, reader) = a_read_in_flight().await;
    // The read has its value; the key changes and is invalidated before the read returns.
    behind.store.set(&key("k"), v("new")).await.unwrap();
    l1.invalidator().invalidate(b"k");
    release.notify_one();
    assert_eq!(reader.await.unwrap().unwrap(), Some(v("old")), "the caller gets what was read");
    assert_eq!(l1.get(&key("k")).await.unwrap(), Some(v("new")), "the old value was not kept");
}

#[tokio::test]
async fn a_read_in_flight_during_a_write_here_does_not_overwrite_it() {
    let (_behind, l1, release, reader) = a_read_in_flight().await;
    l1.set(&key("k"), v("new")).await.unwrap();
    release.notify_one();
    reader.await.unwrap().unwrap();
    assert_eq!(l1.get(&key("k")).await.unwrap(), Some(v("new")));
}

#[tokio::test]
async fn pending_it_passes_through_then_a_suspension_flushes_it() {
    let behind = Behind::default();
    behind.store.set(&key("k"), v("1")).await.unwrap();
    let l1 = L1Backend::builder().build_pending(behind.clone());
    assert_eq!(l1.status(), L1Status::Starting);
    l1.get(&key("k")).await.unwrap();
    l1.get(&key("k")).await.unwrap();
    assert_eq!(behind.reads(), 2, "nothing kept before the source starts");
    let invalidator = l1.invalidator();
    invalidator.resume();
    l1.ready().await.unwrap();
    l1.get(&key("k")).await.unwrap();
    l1.get(&key("k")).await.unwrap();
    assert_eq!(behind.reads(), 3);
    invalidator.suspend("lost");
    assert_eq!(l1.stats().entries, 0, "flushed");
    l1.get(&key("k")).await.unwrap();
    l1.get(&key("k")).await.unwrap();
    assert_eq!(behind.reads(), 5, "nothing kept while suspended");
    invalidator.resume();
    l1.get(&key("k")).await.unwrap();
    l1.get(&key("k")).await.unwrap();
    assert_eq!(behind.reads(), 6);
    assert_eq!(l1.stats().flushes, 1);
}

#[tokio::test]
async fn a_refused_source_makes_ready_fail_and_the_l1_stay_out_of_the_way() {
    let l1 = L1Backend::builder().build_pending(Behind::default());
    let waiter = tokio::spawn({
        let l1 = l1.clone();
        async move { l1.ready().await }
    });
    l1.invalidator().refuse("no tracking here");
    let err = waiter.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("no tracking here"), "{err}");
    l1.set(&key("k"), v("1")).await.unwrap();
    l1.get(&key("k")).await.unwrap();
    assert_eq!(l1.stats().hits, 0);
}

#[tokio::test]
async fn keys_outside_the_prefixes_always_go_to_the_backend() {
    let behind = Behind::default();
    let l1 = L1Backend::builder().prefixes(["hot:"]).build(behind.clone());
    l1.set(&key("hot:1"), v("1")).await.unwrap();
    l1.set(&key("cold:1"), v("1")).await.unwrap();
    for _ in 0..3 {
        l1.get(&key("hot:1")).await.unwrap();
        l1.get(&key("cold:1")).await.unwrap();
    }
    assert_eq!(behind.reads(), 3);
    assert_eq!(l1.invalidator().prefixes(), vec!["hot:".to_owned()]);
}

/// Writing a key again replaces its entry: no eviction, whatever the bound.
#[tokio::test]
async fn an_overwrite_is_no_eviction() {
    let l1 = L1Backend::builder().capacity(10_000).build(Behind::default());
    for value in ["1", "2", "3"] {
        l1.set(&key("k"), v(value)).await.unwrap();
    }
    let stats = l1.stats();
    assert_eq!((stats.entries, stats.evictions), (1, 0), "{stats:?}");
}

#[tokio::test]
async fn the_bound_holds() {
    let l1 = L1Backend::builder().capacity(100).build(Behind::default());
    for i in 0..1_000 {
        l1.set(&CacheKey::from(format!("k{i}")), v("value")).await.unwrap();
    }
    let stats = l1.stats();
    assert!(stats.entries <= 100, "{stats:?}");
    assert!(stats.evictions >= 800, "{stats:?}");
    let by_bytes = L1Backend::builder().max_bytes(10 * 1024).build(Behind::default());
    for i in 0..1_000 {
        by_bytes.set(&CacheKey::from(format!("k{i:04}")), Bytes::from(vec![1u8; 1024])).await.unwrap();
    }
    assert!(by_bytes.weighted_size() <= 10 * 1024, "{}", by_bytes.weighted_size());
}

#[tokio::test]
async fn a_region_over_an_l1_reads_its_hits_from_memory() {
    let behind = Behind::default();
    let l1 = L1Backend::builder().build(behind.clone());
    let region = Region::builder().backend(l1.clone()).build().unwrap();
    let created = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let created = Arc::clone(&created);
        let n: u32 = region
            .get_or_create("answer", move || async move {
                created.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(42)
            })
            .await
            .unwrap();
        assert_eq!(n, 42);
    }
    assert_eq!(created.load(Ordering::SeqCst), 1);
    assert!(behind.reads() <= 2, "{} reads reached the backend", behind.reads());
    assert!(l1.stats().hits >= 9, "{:?}", l1.stats());
}

dogpile_testing::conformance!(l1_over_memory, || dogpile_testing::Fixture::new(
    L1Backend::builder().capacity(1_000).build(MemoryBackend::default())
));

#[tokio::test]
async fn an_entry_past_its_time_to_live_is_read_again() {
    let behind = Behind::default();
    behind.store.set(&key("k"), v("1")).await.unwrap();
    let l1 = L1Backend::builder().time_to_live(std::time::Duration::from_millis(50)).build(behind.clone());
    l1.get(&key("k")).await.unwrap();
    l1.get(&key("k")).await.unwrap();
    assert_eq!(behind.reads(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(80)).await;
    l1.get(&key("k")).await.unwrap();
    assert_eq!(behind.reads(), 2);
}

#[tokio::test]
async fn writes_and_invalidations_of_other_plain_keys_keep_the_entries() {
    let behind = Behind::default();
    let l1 = L1Backend::builder().capacity(10_000).build(behind.clone());
    let held: Vec<CacheKey> = (0..200).map(|i| key(&format!("held{i}"))).collect();
    for k in &held {
        behind.store.set(k, v("1")).await.unwrap();
        l1.get(k).await.unwrap();
    }
    for i in 0..2_000 {
        let other = key(&format!("other{i}"));
        l1.set(&other, v("2")).await.unwrap();
        l1.invalidator().invalidate(format!("gone{i}").as_bytes());
    }
    let reads = behind.reads();
    l1.get_multi(&held).await.unwrap();
    assert_eq!(behind.reads(), reads, "every held key still answered by the L1");
}
