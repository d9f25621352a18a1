//! The null backend: stores nothing (dogpile's `dogpile.cache.null`).

use std::sync::Arc;

use bytes::Bytes;

use super::{Backend, BackendMutex, BoxFuture, Capabilities};
use crate::error::Result;
use crate::key::CacheKey;

/// A backend that stores nothing: every read misses, so every `get_or_create` calls its
/// creator. Useful to switch caching off by configuration.
///
/// # Examples
///
/// ```
/// use dogpile::backend::NullBackend;
/// use dogpile::Region;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> dogpile::Result<()> {
/// let region = Region::builder().backend(NullBackend).build()?;
/// region.set("k", &1u8).await?;
/// assert_eq!(region.get::<u8>("k").await?, None);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NullBackend;

impl Backend for NullBackend {
    fn name(&self) -> &'static str {
        "null"
    }

    async fn get(&self, _key: &CacheKey) -> Result<Option<Bytes>> {
        Ok(None)
    }

    async fn get_multi(&self, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>> {
        Ok(vec![None; keys.len()])
    }

    async fn set(&self, _key: &CacheKey, _value: Bytes) -> Result<()> {
        Ok(())
    }

    async fn set_multi(&self, _items: &[(CacheKey, Bytes)]) -> Result<()> {
        Ok(())
    }

    async fn delete(&self, _key: &CacheKey) -> Result<()> {
        Ok(())
    }

    async fn delete_multi(&self, _keys: &[CacheKey]) -> Result<()> {
        Ok(())
    }

    fn get_mutex(&self, _key: &CacheKey) -> Option<Arc<dyn BackendMutex>> {
        Some(Arc::new(NullMutex))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new().with_stores_values(false)
    }
}

/// The null backend's mutex: every acquire succeeds, nothing is ever locked.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullMutex;

impl BackendMutex for NullMutex {
    fn acquire(&self, _wait: bool) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async { Ok(true) })
    }

    fn release(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn locked(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async { Ok(false) })
    }

    fn owned(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async { Ok(false) })
    }
}
