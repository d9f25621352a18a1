//! Backends that misbehave on purpose, for testing the region's error paths.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use dogpile::backend::{Backend, Capabilities, MemoryBackend};
use dogpile::{BackendErrorKind, Bytes, CacheKey, Error, Result};

/// An error for creators in tests: displays as `boom`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Boom;

impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}

impl std::error::Error for Boom {}

/// A memory backend whose operations can be made to fail, and that counts the calls it gets.
///
/// Reads and writes fail independently with a [`BackendErrorKind::Connection`] error, as a
/// store that went down would.
#[derive(Debug, Clone, Default)]
pub struct FaultyBackend {
    inner: MemoryBackend,
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    fail_reads: AtomicBool,
    fail_writes: AtomicBool,
    calls: AtomicUsize,
}

impl FaultyBackend {
    /// A backend that works until told otherwise.
    pub fn new() -> Self {
        FaultyBackend::default()
    }

    /// Makes reads fail (or work again).
    pub fn fail_reads(&self, yes: bool) {
        self.state.fail_reads.store(yes, Ordering::SeqCst);
    }

    /// Makes writes and deletes fail (or work again).
    pub fn fail_writes(&self, yes: bool) {
        self.state.fail_writes.store(yes, Ordering::SeqCst);
    }

    /// How many backend calls were made (a multi call counts once).
    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    fn check(&self, write: bool) -> Result<()> {
        self.state.calls.fetch_add(1, Ordering::SeqCst);
        let flag = if write { &self.state.fail_writes } else { &self.state.fail_reads };
        if flag.load(Ordering::SeqCst) {
            Err(Error::backend(BackendErrorKind::Connection, "connection refused (injected)"))
        } else {
            Ok(())
        }
    }
}

impl Backend for FaultyBackend {
    fn name(&self) -> &'static str {
        "faulty"
    }
    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        self.check(false)?;
        Backend::get(&self.inner, key).await
    }
    async fn get_multi(&self, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>> {
        self.check(false)?;
        Backend::get_multi(&self.inner, keys).await
    }
    async fn set(&self, key: &CacheKey, value: Bytes) -> Result<()> {
        self.check(true)?;
        Backend::set(&self.inner, key, value).await
    }
    async fn set_multi(&self, items: &[(CacheKey, Bytes)]) -> Result<()> {
        self.check(true)?;
        Backend::set_multi(&self.inner, items).await
    }
    async fn delete(&self, key: &CacheKey) -> Result<()> {
        self.check(true)?;
        Backend::delete(&self.inner, key).await
    }
    async fn delete_multi(&self, keys: &[CacheKey]) -> Result<()> {
        self.check(true)?;
        Backend::delete_multi(&self.inner, keys).await
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }
}
