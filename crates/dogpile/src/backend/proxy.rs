//! Proxy backends: layers around a backend (dogpile's `ProxyBackend` and `wrap=[...]`).
//!
//! A layer implements [`ProxyBackend`]. Each of its methods is given the next backend inward
//! (`next`: another layer, or the backend itself) and the call's arguments; the defaults pass
//! the call on unchanged, so a layer overrides only what it changes or watches. The region
//! sees every layer through [`RegionBuilder::wrap`](crate::RegionBuilder::wrap), and the
//! backend underneath through [`Region::actual_backend`](crate::Region::actual_backend).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

use super::{Backend, BackendMutex, Capabilities, DynBackend, Locked};
use crate::error::Result;
use crate::key::{CacheKey, KeyMangler, KeyRef};

/// A layer around a backend: sees every call (reads, writes, deletes and the mutex, single
/// and multi) and may change its arguments and its result.
///
/// Values are the stored bytes (after the region's codec), so a layer can compress, encrypt,
/// count, log, retry or refuse without knowing the value types.
///
/// # Examples
///
/// A layer that counts writes and never stores one key, as in dogpile's own proxy tests:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use dogpile::backend::{DynBackend, ProxyBackend};
/// use dogpile::{Bytes, CacheKey, Region, Result};
///
/// #[derive(Debug, Default)]
/// struct NeverSet {
///     key: String,
///     sets: AtomicUsize,
/// }
///
/// impl ProxyBackend for NeverSet {
///     async fn set(&self, next: &dyn DynBackend, key: &CacheKey, value: Bytes) -> Result<()> {
///         self.sets.fetch_add(1, Ordering::Relaxed);
///         if key.to_string() == self.key { Ok(()) } else { next.set(key, value).await }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<()> {
/// let layer = Arc::new(NeverSet { key: "5".into(), ..Default::default() });
/// let region = Region::builder().wrap(Arc::clone(&layer)).build()?;
/// region.set("1", &true).await?;
/// region.set("5", &true).await?;
/// assert_eq!(region.get::<bool>("1").await?, Some(true));
/// assert_eq!(region.get::<bool>("5").await?, None);
/// assert_eq!(layer.sets.load(Ordering::Relaxed), 2);
/// assert_eq!(region.actual_backend().name(), "memory");
/// # Ok(())
/// # }
/// ```
pub trait ProxyBackend: Send + Sync + fmt::Debug + 'static {
    /// See [`Backend::get`].
    fn get(&self, next: &dyn DynBackend, key: &CacheKey) -> impl Future<Output = Result<Option<Bytes>>> + Send {
        async move { next.get(key).await }
    }

    /// See [`Backend::get_ready`]. The default answers `None`, so that every read reaches
    /// [`ProxyBackend::get`]; a layer that does not touch reads can return
    /// `next.get_ready(key)` to keep an in-process store's synchronous hit.
    fn get_ready(&self, next: &dyn DynBackend, key: KeyRef<'_>) -> Option<Result<Option<Bytes>>> {
        let _ = (next, key);
        None
    }

    /// See [`Backend::get_multi`].
    fn get_multi(
        &self,
        next: &dyn DynBackend,
        keys: &[CacheKey],
    ) -> impl Future<Output = Result<Vec<Option<Bytes>>>> + Send {
        async move { next.get_multi(keys).await }
    }

    /// See [`Backend::set`].
    fn set(&self, next: &dyn DynBackend, key: &CacheKey, value: Bytes) -> impl Future<Output = Result<()>> + Send {
        async move { next.set(key, value).await }
    }

    /// See [`Backend::set_multi`].
    fn set_multi(&self, next: &dyn DynBackend, items: &[(CacheKey, Bytes)]) -> impl Future<Output = Result<()>> + Send {
        async move { next.set_multi(items).await }
    }

    /// See [`Backend::delete`].
    fn delete(&self, next: &dyn DynBackend, key: &CacheKey) -> impl Future<Output = Result<()>> + Send {
        async move { next.delete(key).await }
    }

    /// See [`Backend::delete_multi`].
    fn delete_multi(&self, next: &dyn DynBackend, keys: &[CacheKey]) -> impl Future<Output = Result<()>> + Send {
        async move { next.delete_multi(keys).await }
    }

    /// See [`Backend::get_mutex`]. A layer may wrap the mutex it passes on.
    fn get_mutex(&self, next: &dyn DynBackend, key: &CacheKey) -> Option<Arc<dyn BackendMutex>> {
        next.get_mutex(key)
    }

    /// Whether `get_or_create_multi`'s batches (take the locks and read; store and release;
    /// [`Backend::try_lock_multi`] and [`Backend::set_multi_and_release`]) go to `next` as
    /// they are, in its single round trip. The default, `false`, builds them from this layer's
    /// own [`get_mutex`](ProxyBackend::get_mutex), [`get_multi`](ProxyBackend::get_multi) and
    /// [`set_multi`](ProxyBackend::set_multi), so that the layer sees every key and value, at
    /// a round trip per lock on a networked backend. Answer `true` from a layer that changes
    /// neither keys, values nor mutexes.
    fn forwards_batches(&self) -> bool {
        false
    }

    /// See [`Backend::capabilities`].
    fn capabilities(&self, next: &dyn DynBackend) -> Capabilities {
        next.capabilities()
    }
}

impl<P: ProxyBackend> ProxyBackend for Arc<P> {
    fn get(&self, next: &dyn DynBackend, key: &CacheKey) -> impl Future<Output = Result<Option<Bytes>>> + Send {
        (**self).get(next, key)
    }
    fn get_ready(&self, next: &dyn DynBackend, key: KeyRef<'_>) -> Option<Result<Option<Bytes>>> {
        (**self).get_ready(next, key)
    }
    fn get_multi(
        &self,
        next: &dyn DynBackend,
        keys: &[CacheKey],
    ) -> impl Future<Output = Result<Vec<Option<Bytes>>>> + Send {
        (**self).get_multi(next, keys)
    }
    fn set(&self, next: &dyn DynBackend, key: &CacheKey, value: Bytes) -> impl Future<Output = Result<()>> + Send {
        (**self).set(next, key, value)
    }
    fn set_multi(&self, next: &dyn DynBackend, items: &[(CacheKey, Bytes)]) -> impl Future<Output = Result<()>> + Send {
        (**self).set_multi(next, items)
    }
    fn delete(&self, next: &dyn DynBackend, key: &CacheKey) -> impl Future<Output = Result<()>> + Send {
        (**self).delete(next, key)
    }
    fn delete_multi(&self, next: &dyn DynBackend, keys: &[CacheKey]) -> impl Future<Output = Result<()>> + Send {
        (**self).delete_multi(next, keys)
    }
    fn get_mutex(&self, next: &dyn DynBackend, key: &CacheKey) -> Option<Arc<dyn BackendMutex>> {
        (**self).get_mutex(next, key)
    }
    fn forwards_batches(&self) -> bool {
        (**self).forwards_batches()
    }
    fn capabilities(&self, next: &dyn DynBackend) -> Capabilities {
        (**self).capabilities(next)
    }
}

/// A backend seen through one layer: what [`RegionBuilder::wrap`](crate::RegionBuilder::wrap)
/// puts around the backend (dogpile's `ProxyBackend.wrap`).
pub struct Proxied<P> {
    layer: P,
    next: Arc<dyn DynBackend>,
}

impl<P: ProxyBackend> Proxied<P> {
    /// `next` seen through `layer`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use dogpile::backend::{Backend, MemoryBackend, Proxied, ProxyBackend};
    ///
    /// #[derive(Debug)]
    /// struct PassThrough;
    /// impl ProxyBackend for PassThrough {}
    ///
    /// let proxied = Proxied::new(PassThrough, Arc::new(MemoryBackend::default()));
    /// assert_eq!(proxied.proxied().name(), "memory");
    /// ```
    pub fn new(layer: P, next: Arc<dyn DynBackend>) -> Self {
        Proxied { layer, next }
    }

    /// The layer.
    pub fn layer(&self) -> &P {
        &self.layer
    }

    /// The next backend inward (dogpile's `proxied`).
    pub fn proxied(&self) -> &Arc<dyn DynBackend> {
        &self.next
    }
}

impl<P: fmt::Debug> fmt::Debug for Proxied<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxied").field("layer", &self.layer).field("proxied", &self.next).finish()
    }
}

impl<P: ProxyBackend> Backend for Proxied<P> {
    /// The name of the backend underneath (metrics and errors keep naming it).
    fn name(&self) -> &'static str {
        self.next.name()
    }
    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        self.layer.get(&*self.next, key).await
    }
    fn get_ready(&self, key: KeyRef<'_>) -> Option<Result<Option<Bytes>>> {
        self.layer.get_ready(&*self.next, key)
    }
    async fn get_multi(&self, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>> {
        self.layer.get_multi(&*self.next, keys).await
    }
    async fn set(&self, key: &CacheKey, value: Bytes) -> Result<()> {
        self.layer.set(&*self.next, key, value).await
    }
    async fn set_multi(&self, items: &[(CacheKey, Bytes)]) -> Result<()> {
        self.layer.set_multi(&*self.next, items).await
    }
    async fn delete(&self, key: &CacheKey) -> Result<()> {
        self.layer.delete(&*self.next, key).await
    }
    async fn delete_multi(&self, keys: &[CacheKey]) -> Result<()> {
        self.layer.delete_multi(&*self.next, keys).await
    }
    fn get_mutex(&self, key: &CacheKey) -> Option<Arc<dyn BackendMutex>> {
        self.layer.get_mutex(&*self.next, key)
    }
    async fn try_lock_multi(&self, keys: &[CacheKey]) -> Result<Vec<Option<Locked>>> {
        match self.layer.forwards_batches() {
            true => self.next.try_lock_multi(keys).await,
            false => super::lock_each(self, keys).await,
        }
    }
    async fn set_multi_and_release(
        &self,
        items: &[(CacheKey, Bytes)],
        mutexes: Vec<Arc<dyn BackendMutex>>,
    ) -> (Result<()>, Vec<Result<()>>) {
        match self.layer.forwards_batches() {
            true => self.next.set_multi_and_release(items, mutexes).await,
            false => super::store_then_release(self, items, mutexes).await,
        }
    }
    fn key_mangler(&self) -> Option<KeyMangler> {
        self.next.key_mangler()
    }
    fn capabilities(&self) -> Capabilities {
        self.layer.capabilities(&*self.next)
    }
    fn tag_store(&self) -> Option<super::SharedTagStore> {
        self.next.tag_store()
    }
}
