//! The object-safe form of [`Backend`], for backends chosen at run time.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use super::{Backend, BackendMutex, BoxFuture, Capabilities, Locked, SharedTagStore};
use crate::error::Result;
use crate::key::{CacheKey, KeyMangler, KeyRef};

/// [`Backend`] with boxed futures, so it can live behind `Arc<dyn DynBackend>`. Every
/// [`Backend`] is a `DynBackend` through a blanket implementation; implement [`Backend`].
pub trait DynBackend: Send + Sync + fmt::Debug + 'static {
    /// See [`Backend::name`].
    fn name(&self) -> &'static str;
    /// See [`Backend::get`].
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<Option<Bytes>>>;
    /// See [`Backend::get_ready`].
    fn get_ready(&self, key: KeyRef<'_>) -> Option<Result<Option<Bytes>>>;
    /// See [`Backend::get_multi`].
    fn get_multi<'a>(&'a self, keys: &'a [CacheKey]) -> BoxFuture<'a, Result<Vec<Option<Bytes>>>>;
    /// See [`Backend::set`].
    fn set<'a>(&'a self, key: &'a CacheKey, value: Bytes) -> BoxFuture<'a, Result<()>>;
    /// See [`Backend::set_multi`].
    fn set_multi<'a>(&'a self, items: &'a [(CacheKey, Bytes)]) -> BoxFuture<'a, Result<()>>;
    /// See [`Backend::delete`].
    fn delete<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<()>>;
    /// See [`Backend::delete_multi`].
    fn delete_multi<'a>(&'a self, keys: &'a [CacheKey]) -> BoxFuture<'a, Result<()>>;
    /// See [`Backend::get_mutex`].
    fn get_mutex(&self, key: &CacheKey) -> Option<Arc<dyn BackendMutex>>;
    /// See [`Backend::try_lock_multi`].
    fn try_lock_multi<'a>(&'a self, keys: &'a [CacheKey]) -> BoxFuture<'a, Result<Vec<Option<Locked>>>>;
    /// See [`Backend::set_multi_and_release`].
    fn set_multi_and_release<'a>(
        &'a self,
        items: &'a [(CacheKey, Bytes)],
        mutexes: Vec<Arc<dyn BackendMutex>>,
    ) -> BoxFuture<'a, (Result<()>, Vec<Result<()>>)>;
    /// See [`Backend::key_mangler`].
    fn key_mangler(&self) -> Option<KeyMangler>;
    /// See [`Backend::capabilities`].
    fn capabilities(&self) -> Capabilities;
    /// See [`Backend::tag_store`].
    fn tag_store(&self) -> Option<SharedTagStore>;
}

impl<B: Backend> DynBackend for B {
    fn name(&self) -> &'static str {
        Backend::name(self)
    }
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(Backend::get(self, key))
    }
    fn get_ready(&self, key: KeyRef<'_>) -> Option<Result<Option<Bytes>>> {
        Backend::get_ready(self, key)
    }
    fn get_multi<'a>(&'a self, keys: &'a [CacheKey]) -> BoxFuture<'a, Result<Vec<Option<Bytes>>>> {
        Box::pin(Backend::get_multi(self, keys))
    }
    fn set<'a>(&'a self, key: &'a CacheKey, value: Bytes) -> BoxFuture<'a, Result<()>> {
        Box::pin(Backend::set(self, key, value))
    }
    fn set_multi<'a>(&'a self, items: &'a [(CacheKey, Bytes)]) -> BoxFuture<'a, Result<()>> {
        Box::pin(Backend::set_multi(self, items))
    }
    fn delete<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<()>> {
        Box::pin(Backend::delete(self, key))
    }
    fn delete_multi<'a>(&'a self, keys: &'a [CacheKey]) -> BoxFuture<'a, Result<()>> {
        Box::pin(Backend::delete_multi(self, keys))
    }
    fn get_mutex(&self, key: &CacheKey) -> Option<Arc<dyn BackendMutex>> {
        Backend::get_mutex(self, key)
    }
    fn try_lock_multi<'a>(&'a self, keys: &'a [CacheKey]) -> BoxFuture<'a, Result<Vec<Option<Locked>>>> {
        Box::pin(Backend::try_lock_multi(self, keys))
    }
    fn set_multi_and_release<'a>(
        &'a self,
        items: &'a [(CacheKey, Bytes)],
        mutexes: Vec<Arc<dyn BackendMutex>>,
    ) -> BoxFuture<'a, (Result<()>, Vec<Result<()>>)> {
        Box::pin(Backend::set_multi_and_release(self, items, mutexes))
    }
    fn key_mangler(&self) -> Option<KeyMangler> {
        Backend::key_mangler(self)
    }
    fn capabilities(&self) -> Capabilities {
        Backend::capabilities(self)
    }
    fn tag_store(&self) -> Option<SharedTagStore> {
        Backend::tag_store(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _obj_safe(_: &dyn DynBackend, _: &dyn BackendMutex) {}

    #[test]
    fn memory_backend_is_a_dyn_backend() {
        let backend: Arc<dyn DynBackend> = Arc::new(crate::backend::MemoryBackend::default());
        assert_eq!(DynBackend::name(&*backend), "memory");
    }
}
