//! The distributed lock of one key, for dogpile.cache's `CacheMutex`.

use std::sync::Arc;

use dogpile::CacheKey;
use dogpile::backend::BackendMutex;
use pyo3::prelude::*;

use crate::error::to_py;
use crate::runtime::block_on;

/// The token lock of one key: `acquire(wait=True)`, `release()`, `locked()`. Each object
/// holds its own token, so `release` frees only what this object acquired, and Python and
/// Rust processes that share the Redis exclude each other.
#[pyclass(frozen, module = "dogpile_rs._dogpile_rs")]
pub(crate) struct Mutex {
    inner: Arc<dyn BackendMutex>,
    key: CacheKey,
}

impl Mutex {
    pub(crate) fn new(inner: Arc<dyn BackendMutex>, key: CacheKey) -> Self {
        Mutex { inner, key }
    }
}

#[pymethods]
impl Mutex {
    /// Takes the lock; with `wait`, waits for it (up to `lock_blocking_timeout` if set).
    /// Returns whether this object now holds it.
    #[pyo3(signature = (wait = true))]
    fn acquire(&self, py: Python<'_>, wait: bool) -> PyResult<bool> {
        let inner = Arc::clone(&self.inner);
        let key = self.key.clone();
        block_on(py, async move { inner.acquire(wait).await.map_err(|e| e.with_key(key)) })?.map_err(to_py)
    }

    /// Releases the lock this object holds.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        let inner = Arc::clone(&self.inner);
        let key = self.key.clone();
        block_on(py, async move { inner.release().await.map_err(|e| e.with_key(key)) })?.map_err(to_py)
    }

    /// Whether anyone holds the lock.
    fn locked(&self, py: Python<'_>) -> PyResult<bool> {
        let inner = Arc::clone(&self.inner);
        let key = self.key.clone();
        block_on(py, async move { inner.locked().await.map_err(|e| e.with_key(key)) })?.map_err(to_py)
    }

    /// Whether this object holds the lock now (false once it expired and another holder took
    /// it).
    fn owned(&self, py: Python<'_>) -> PyResult<bool> {
        let inner = Arc::clone(&self.inner);
        let key = self.key.clone();
        block_on(py, async move { inner.owned().await.map_err(|e| e.with_key(key)) })?.map_err(to_py)
    }

    fn __repr__(&self) -> String {
        format!("<dogpile_rs lock of {}>", self.key)
    }
}
