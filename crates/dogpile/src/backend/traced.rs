//! A backend whose calls each run in a debug span `dogpile.backend` (with the `tracing`
//! feature): what a region calls its backend through.

use std::sync::Arc;

use bytes::Bytes;
use tracing::Instrument;

use super::{BackendMutex, BoxFuture, Capabilities, DynBackend, Locked};
use crate::error::Result;
use crate::key::{CacheKey, KeyMangler, KeyRef};

/// `backend`, its calls in spans with the fields `call` (the method), `backend` (its name)
/// and `keys` (how many keys the call carries).
#[derive(Debug)]
pub(crate) struct Traced(pub(crate) Arc<dyn DynBackend>);

impl Traced {
    fn span(&self, call: &'static str, keys: usize) -> tracing::Span {
        tracing::debug_span!(target: "dogpile", "dogpile.backend", call, backend = self.0.name(), keys)
    }
}

impl DynBackend for Traced {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(self.0.get(key).instrument(self.span("get", 1)))
    }
    fn get_ready(&self, key: KeyRef<'_>) -> Option<Result<Option<Bytes>>> {
        let _span = self.span("get_ready", 1).entered();
        self.0.get_ready(key)
    }
    fn get_multi<'a>(&'a self, keys: &'a [CacheKey]) -> BoxFuture<'a, Result<Vec<Option<Bytes>>>> {
        Box::pin(self.0.get_multi(keys).instrument(self.span("get_multi", keys.len())))
    }
    fn set<'a>(&'a self, key: &'a CacheKey, value: Bytes) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.0.set(key, value).instrument(self.span("set", 1)))
    }
    fn set_multi<'a>(&'a self, items: &'a [(CacheKey, Bytes)]) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.0.set_multi(items).instrument(self.span("set_multi", items.len())))
    }
    fn delete<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.0.delete(key).instrument(self.span("delete", 1)))
    }
    fn delete_multi<'a>(&'a self, keys: &'a [CacheKey]) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.0.delete_multi(keys).instrument(self.span("delete_multi", keys.len())))
    }
    fn get_mutex(&self, key: &CacheKey) -> Option<Arc<dyn BackendMutex>> {
        self.0.get_mutex(key)
    }
    fn try_lock_multi<'a>(&'a self, keys: &'a [CacheKey]) -> BoxFuture<'a, Result<Vec<Option<Locked>>>> {
        Box::pin(self.0.try_lock_multi(keys).instrument(self.span("try_lock_multi", keys.len())))
    }
    fn set_multi_and_release<'a>(
        &'a self,
        items: &'a [(CacheKey, Bytes)],
        mutexes: Vec<Arc<dyn BackendMutex>>,
    ) -> BoxFuture<'a, (Result<()>, Vec<Result<()>>)> {
        let span = self.span("set_multi_and_release", items.len());
        Box::pin(self.0.set_multi_and_release(items, mutexes).instrument(span))
    }
    fn key_mangler(&self) -> Option<KeyMangler> {
        self.0.key_mangler()
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    fn tag_store(&self) -> Option<crate::backend::SharedTagStore> {
        self.0.tag_store()
    }
}
