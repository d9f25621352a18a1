//! Proxy backends (layers given to `RegionBuilder::wrap`), the backend underneath, replacing a
//! backend, and a backend's own key mangler: dogpile's `ProxyBackendTest`,
//! `ProxyRegionTest`, `test_actual_backend_*`, `test_replace_backend_config` and
//! `test_key_mangler_argument` scenarios.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dogpile::backend::{
    Backend, BackendMutex, BoxFuture, DynBackend, MemoryBackend, NullBackend, Proxied, ProxyBackend,
};
use dogpile::{Bytes, CacheKey, KeyMangler, Region, Result};
use dogpile_testing::Fixture;

#[derive(Debug, Default)]
struct GetCounter(AtomicUsize);

impl ProxyBackend for GetCounter {
    async fn get(&self, next: &dyn DynBackend, key: &CacheKey) -> Result<Option<Bytes>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        next.get(key).await
    }
}

#[derive(Debug, Default)]
struct SetCounter(AtomicUsize);

impl ProxyBackend for SetCounter {
    async fn set(&self, next: &dyn DynBackend, key: &CacheKey, value: Bytes) -> Result<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        next.set(key, value).await
    }
}

/// Counts how often each key is set.
#[derive(Debug, Default)]
struct UsedKeys(Mutex<HashMap<String, usize>>);

impl UsedKeys {
    fn set_count(&self, key: &str) -> usize {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

impl ProxyBackend for UsedKeys {
    async fn set(&self, next: &dyn DynBackend, key: &CacheKey, value: Bytes) -> Result<()> {
        *self.0.lock().unwrap().entry(key.to_string()).or_default() += 1;
        next.set(key, value).await
    }
}

/// Never stores the key it is given.
#[derive(Debug)]
struct NeverSet(&'static str);

impl ProxyBackend for NeverSet {
    async fn set(&self, next: &dyn DynBackend, key: &CacheKey, value: Bytes) -> Result<()> {
        if key.to_string() == self.0 { Ok(()) } else { next.set(key, value).await }
    }
}

#[derive(Debug)]
struct PassThrough;

impl ProxyBackend for PassThrough {}

#[tokio::test]
async fn counter_proxies_see_their_calls_and_pass_the_rest() {
    let gets = Arc::new(GetCounter::default());
    let sets = Arc::new(SetCounter::default());
    let region = Region::builder().wrap(Arc::clone(&gets)).wrap(Arc::clone(&sets)).build().unwrap();
    for i in 0..10 {
        region.set(i.to_string(), &i).await.unwrap();
    }
    assert_eq!(gets.0.load(Ordering::SeqCst), 0);
    assert_eq!(sets.0.load(Ordering::SeqCst), 10);
    for i in 0..10 {
        assert_eq!(region.get::<i32>(i.to_string()).await.unwrap(), Some(i));
    }
    assert_eq!(gets.0.load(Ordering::SeqCst), 10, "every read reaches the layer, in-process hits too");
    assert_eq!(sets.0.load(Ordering::SeqCst), 10);
    // `delete`, which neither layer overrides, still reaches the backend.
    for i in 0..10 {
        region.delete(i.to_string()).await.unwrap();
        assert_eq!(region.get::<i32>(i.to_string()).await.unwrap(), None);
    }
    // A read-through's hit goes through the layer as well.
    let before = gets.0.load(Ordering::SeqCst);
    region.set("hot", &1).await.unwrap();
    let n: i32 = region.get_or_create("hot", || async { Ok::<_, std::io::Error>(2) }).await.unwrap();
    assert_eq!(n, 1);
    assert_eq!(gets.0.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn instance_proxies_do_not_interfere() {
    let numbers = Arc::new(UsedKeys::default());
    let letters = Arc::new(UsedKeys::default());
    let region_numbers = Region::builder().wrap(Arc::clone(&numbers)).build().unwrap();
    let region_letters = Region::builder().wrap(Arc::clone(&letters)).build().unwrap();
    for i in 0..10u8 {
        region_numbers.set(i.to_string(), &true).await.unwrap();
        region_letters.set(char::from(b'a' + i).to_string(), &true).await.unwrap();
    }
    for i in 0..5u8 {
        region_numbers.set(i.to_string(), &true).await.unwrap();
        region_letters.set(char::from(b'a' + i).to_string(), &true).await.unwrap();
    }
    assert_eq!(numbers.set_count("1"), 2);
    assert_eq!(numbers.set_count("9"), 1);
    assert_eq!(numbers.set_count("a"), 0);
    assert_eq!(letters.set_count("a"), 2);
    assert_eq!(letters.set_count("g"), 1);
    assert_eq!(letters.set_count("9"), 0);
}

#[tokio::test]
async fn a_proxy_given_an_argument_changes_the_calls() {
    let region = Region::builder().wrap(NeverSet("5")).build().unwrap();
    for i in 0..10 {
        region.set(i.to_string(), &true).await.unwrap();
    }
    assert_eq!(region.get::<bool>("5").await.unwrap(), None);
    assert_eq!(region.get::<bool>("1").await.unwrap(), Some(true));
}

/// Records the order in which layers see a call.
#[derive(Debug)]
struct Named(&'static str, Arc<Mutex<Vec<&'static str>>>);

impl ProxyBackend for Named {
    async fn get(&self, next: &dyn DynBackend, key: &CacheKey) -> Result<Option<Bytes>> {
        self.1.lock().unwrap().push(self.0);
        next.get(key).await
    }
}

#[tokio::test]
async fn the_first_layer_is_the_outermost_as_in_dogpiles_wrap_list() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let region = Region::builder()
        .backend(NullBackend)
        .wrap(Named("first", Arc::clone(&seen)))
        .wrap(Named("second", Arc::clone(&seen)))
        .build()
        .unwrap();
    region.get::<u8>("k").await.unwrap();
    assert_eq!(*seen.lock().unwrap(), ["first", "second"]);
}

#[tokio::test]
async fn actual_backend_is_the_one_underneath_the_proxies() {
    let proxied = Region::builder().wrap(PassThrough).wrap(PassThrough).build().unwrap();
    assert!(format!("{:?}", proxied.backend()).starts_with("Proxied"), "{:?}", proxied.backend());
    assert!(format!("{:?}", proxied.actual_backend()).starts_with("MemoryBackend"), "{:?}", proxied.actual_backend());
    assert_eq!(proxied.backend().name(), "memory", "a layer keeps the name of the backend underneath");

    let plain = Region::builder().build().unwrap();
    assert!(Arc::ptr_eq(plain.backend(), plain.actual_backend()));
}

/// Changes what is stored: every byte flipped, as a stand-in for encryption or compression.
#[derive(Debug)]
struct Flip;

fn flip(bytes: &Bytes) -> Bytes {
    bytes.iter().map(|b| !b).collect()
}

impl ProxyBackend for Flip {
    async fn get(&self, next: &dyn DynBackend, key: &CacheKey) -> Result<Option<Bytes>> {
        Ok(next.get(key).await?.as_ref().map(flip))
    }
    async fn get_multi(&self, next: &dyn DynBackend, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>> {
        Ok(next.get_multi(keys).await?.iter().map(|v| v.as_ref().map(flip)).collect())
    }
    async fn set(&self, next: &dyn DynBackend, key: &CacheKey, value: Bytes) -> Result<()> {
        next.set(key, flip(&value)).await
    }
    async fn set_multi(&self, next: &dyn DynBackend, items: &[(CacheKey, Bytes)]) -> Result<()> {
        let flipped: Vec<(CacheKey, Bytes)> = items.iter().map(|(k, v)| (k.clone(), flip(v))).collect();
        next.set_multi(&flipped).await
    }
}

#[tokio::test]
async fn a_layer_that_changes_values_sees_every_path_single_and_multi() {
    let region = Region::builder().wrap(Flip).build().unwrap();
    let n: u32 = region.get_or_create("one", || async { Ok::<_, std::io::Error>(7) }).await.unwrap();
    assert_eq!(n, 7);
    let many: Vec<u32> = region
        .get_or_create_multi(["a", "b", "one"], |keys| async move {
            Ok::<_, std::io::Error>(keys.iter().map(|k| k.to_string().len() as u32 * 10).collect())
        })
        .await
        .unwrap();
    assert_eq!(many, [10, 10, 7]);
    region.set_multi([("c", &3u32), ("d", &4)]).await.unwrap();
    assert_eq!(
        region.get_multi::<u32, _>(["a", "c", "d", "one"]).await.unwrap(),
        [Some(10), Some(3), Some(4), Some(7)]
    );

    // The backend underneath holds what the layer wrote, which the region alone cannot read.
    let raw = Region::builder().backend_arc(Arc::clone(region.actual_backend())).build().unwrap();
    for key in ["a", "c", "one"] {
        assert_eq!(raw.get::<u32>(key).await.unwrap(), None, "{key} is stored flipped");
        assert!(region.actual_backend().get(&CacheKey::from(key)).await.unwrap().is_some());
    }
}

/// Adds a prefix to every key: keys change, single and multi.
#[derive(Debug)]
struct Prefix;

fn prefixed(key: &CacheKey) -> CacheKey {
    CacheKey::from(format!("p:{key}"))
}

impl ProxyBackend for Prefix {
    async fn get(&self, next: &dyn DynBackend, key: &CacheKey) -> Result<Option<Bytes>> {
        next.get(&prefixed(key)).await
    }
    async fn get_multi(&self, next: &dyn DynBackend, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>> {
        next.get_multi(&keys.iter().map(prefixed).collect::<Vec<_>>()).await
    }
    async fn set(&self, next: &dyn DynBackend, key: &CacheKey, value: Bytes) -> Result<()> {
        next.set(&prefixed(key), value).await
    }
    async fn set_multi(&self, next: &dyn DynBackend, items: &[(CacheKey, Bytes)]) -> Result<()> {
        next.set_multi(&items.iter().map(|(k, v)| (prefixed(k), v.clone())).collect::<Vec<_>>()).await
    }
    async fn delete(&self, next: &dyn DynBackend, key: &CacheKey) -> Result<()> {
        next.delete(&prefixed(key)).await
    }
    async fn delete_multi(&self, next: &dyn DynBackend, keys: &[CacheKey]) -> Result<()> {
        next.delete_multi(&keys.iter().map(prefixed).collect::<Vec<_>>()).await
    }
}

#[tokio::test]
async fn a_layer_that_changes_keys_changes_them_for_every_call() {
    let region = Region::builder().wrap(Prefix).build().unwrap();
    let _: u32 = region.get_or_create("x", || async { Ok::<_, std::io::Error>(1) }).await.unwrap();
    let _: Vec<u32> = region
        .get_or_create_multi(["y", "z"], |keys| async move { Ok::<_, std::io::Error>(vec![2; keys.len()]) })
        .await
        .unwrap();
    let actual = region.actual_backend();
    for key in ["x", "y", "z"] {
        assert!(actual.get(&CacheKey::from(key)).await.unwrap().is_none(), "{key} unprefixed");
        assert!(actual.get(&CacheKey::from(format!("p:{key}"))).await.unwrap().is_some(), "p:{key}");
    }
    region.delete_multi(["y", "z"]).await.unwrap();
    assert!(actual.get(&CacheKey::from("p:y")).await.unwrap().is_none());
    assert_eq!(region.get::<u32>("x").await.unwrap(), Some(1));
}

/// An in-process mutex per key, counting acquisitions, that a layer hands out.
#[derive(Debug, Default)]
struct Flags(Mutex<HashMap<String, Arc<AtomicBool>>>);

#[derive(Debug)]
struct FlagMutex {
    flag: Arc<AtomicBool>,
    held: AtomicBool,
    acquired: Arc<AtomicUsize>,
}

impl BackendMutex for FlagMutex {
    fn acquire(&self, wait: bool) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            loop {
                if self.flag.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                    self.held.store(true, Ordering::SeqCst);
                    self.acquired.fetch_add(1, Ordering::SeqCst);
                    return Ok(true);
                }
                if !wait {
                    return Ok(false);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    }
    fn release(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if self.held.swap(false, Ordering::SeqCst) {
                self.flag.store(false, Ordering::SeqCst);
            }
            Ok(())
        })
    }
    fn locked(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move { Ok(self.flag.load(Ordering::SeqCst)) })
    }
}

#[derive(Debug, Default)]
struct MutexLayer {
    flags: Flags,
    handed_out: AtomicUsize,
    acquired: Arc<AtomicUsize>,
}

impl ProxyBackend for MutexLayer {
    fn get_mutex(&self, _next: &dyn DynBackend, key: &CacheKey) -> Option<Arc<dyn BackendMutex>> {
        self.handed_out.fetch_add(1, Ordering::SeqCst);
        let flag = Arc::clone(self.flags.0.lock().unwrap().entry(key.to_string()).or_default());
        Some(Arc::new(FlagMutex { flag, held: AtomicBool::new(false), acquired: Arc::clone(&self.acquired) }))
    }
}

#[tokio::test]
async fn a_layer_sees_and_can_supply_the_mutex_single_and_multi() {
    let layer = Arc::new(MutexLayer::default());
    let region = Region::builder().wrap(Arc::clone(&layer)).build().unwrap();
    let _: u32 = region.get_or_create("one", || async { Ok::<_, std::io::Error>(1) }).await.unwrap();
    assert!(layer.handed_out.load(Ordering::SeqCst) >= 1);
    assert_eq!(layer.acquired.load(Ordering::SeqCst), 1, "the creation ran under the layer's mutex");
    let _: Vec<u32> = region
        .get_or_create_multi(["a", "b", "c"], |keys| async move { Ok::<_, std::io::Error>(vec![0; keys.len()]) })
        .await
        .unwrap();
    assert_eq!(layer.acquired.load(Ordering::SeqCst), 4, "each key of the batch too");
    // Every mutex was released.
    for flag in layer.flags.0.lock().unwrap().values() {
        assert!(!flag.load(Ordering::SeqCst));
    }
}

#[tokio::test]
async fn replacing_the_backend_on_the_builder_keeps_the_layers() {
    let gets = Arc::new(GetCounter::default());
    let region = Region::builder()
        .backend(NullBackend)
        .wrap(Arc::clone(&gets))
        .backend(MemoryBackend::default())
        .build()
        .unwrap();
    assert_eq!(region.actual_backend().name(), "memory", "the last backend given wins");
    region.set("k", &1).await.unwrap();
    assert_eq!(region.get::<i32>("k").await.unwrap(), Some(1));
    assert_eq!(gets.0.load(Ordering::SeqCst), 1, "the layer is around the replacing backend");

    let configured = Region::builder()
        .backend(MemoryBackend::default())
        .configure("null", dogpile::config::Arguments::new())
        .build()
        .unwrap();
    assert_eq!(configured.actual_backend().name(), "null");
}

/// A backend that asks for its keys to be mangled, as dogpile's memcached backends do.
#[derive(Debug, Default)]
struct Mangling(MemoryBackend);

impl Backend for Mangling {
    fn name(&self) -> &'static str {
        "mangling"
    }
    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        Backend::get(&self.0, key).await
    }
    async fn set(&self, key: &CacheKey, value: Bytes) -> Result<()> {
        Backend::set(&self.0, key, value).await
    }
    async fn delete(&self, key: &CacheKey) -> Result<()> {
        Backend::delete(&self.0, key).await
    }
    fn key_mangler(&self) -> Option<KeyMangler> {
        Some(KeyMangler::from_fn(|_| "foo".to_owned()))
    }
}

#[tokio::test]
async fn the_backends_key_mangler_is_used_when_the_region_has_none() {
    let user = KeyMangler::from_fn(|k| format!("HI!{k}"));
    let region = Region::builder().key_mangler(user).build().unwrap();
    assert_eq!(region.key_mangler().unwrap().mangle(&"k".into()).to_string(), "HI!k");
    assert!(Region::builder().build().unwrap().key_mangler().is_none());

    let region = Region::builder().backend(Mangling::default()).wrap(PassThrough).build().unwrap();
    assert_eq!(region.key_mangler().unwrap().mangle(&"bar".into()).to_string(), "foo");
    region.set("bar", &1).await.unwrap();
    assert_eq!(region.get::<i32>("baz").await.unwrap(), Some(1), "every key mangles to foo");
    assert!(region.actual_backend().get(&CacheKey::from("foo")).await.unwrap().is_some());

    // A mangler given to the region wins over the backend's.
    let region = Region::builder()
        .backend(Mangling::default())
        .key_mangler(KeyMangler::from_fn(|k| format!("HI!{k}")))
        .build()
        .unwrap();
    region.set("some key", &"some value").await.unwrap();
    assert!(region.actual_backend().get(&CacheKey::from("HI!some key")).await.unwrap().is_some());
    assert_eq!(region.get::<String>("some key").await.unwrap().as_deref(), Some("some value"));
}

#[test]
fn a_proxied_backend_names_what_it_wraps() {
    let proxied = Proxied::new(PassThrough, Arc::new(NullBackend));
    assert_eq!(Backend::name(&proxied), "null");
    assert_eq!(proxied.proxied().name(), "null");
}

// dogpile's `ProxyRegionTest`: the whole suite, through a layer that passes every call on.
dogpile_testing::conformance!(memory_through_a_proxy, || Fixture::new(Proxied::new(
    PassThrough,
    Arc::new(MemoryBackend::default())
)));
dogpile_testing::conformance!(memory_through_two_changing_proxies, || Fixture::new(Proxied::new(
    Flip,
    Arc::new(Proxied::new(Prefix, Arc::new(MemoryBackend::default())))
)));
