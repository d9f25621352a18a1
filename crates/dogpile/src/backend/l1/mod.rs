//! An in-process level in front of any backend (an L1), kept coherent by an invalidation
//! source.

mod invalidator;
mod stats;
mod store;

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

pub use invalidator::{L1Invalidator, L1Status};
pub use stats::L1Stats;

use super::memory::bounded::Bound;
use super::{Backend, BackendMutex, Capabilities, Locked};
use crate::error::{BackendErrorKind, Error, Result};
use crate::key::{CacheKey, KeyRef};
use store::Store;

/// A bounded in-process cache in front of another backend: reads it holds cost no round trip.
///
/// Values are kept as the backend's bytes, one entry per key (one per field for hash keys),
/// bounded by entries or by bytes in the same kind of store as a bounded
/// [`MemoryBackend`](super::MemoryBackend) (S3-FIFO). Writes, deletes and
/// locks go to the backend as before; a write made here also updates the L1.
///
/// What keeps it coherent with writes made elsewhere is an invalidation source: the Redis
/// backends' `with_l1` starts one (Redis key tracking), under which a write by any client
/// drops the entry. An L1 built with [`L1Builder::build`] has none: it sees the writes of this
/// process only, and a value written by another process is served until the entry's
/// [time to live](L1Builder::time_to_live) passes, so give it one.
///
/// Clones share the same L1.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use dogpile::backend::{L1Backend, MemoryBackend};
/// use dogpile::Region;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> dogpile::Result<()> {
/// let shared = MemoryBackend::default(); // stands for a networked backend
/// let l1 = L1Backend::builder()
///     .capacity(10_000)
///     .time_to_live(Duration::from_secs(5))
///     .build(shared);
/// let region = Region::builder().backend(l1.clone()).build()?;
/// region.set("k", &"v").await?;
/// let v: Option<String> = region.get("k").await?;
/// assert_eq!(v.as_deref(), Some("v"));
/// assert_eq!(l1.stats().hits, 1);
/// # Ok(())
/// # }
/// ```
pub struct L1Backend<B> {
    inner: B,
    shared: Arc<Shared>,
}

struct Shared {
    store: Store,
    status: tokio::sync::watch::Sender<L1Status>,
    keep: Mutex<Vec<Box<dyn Any + Send + Sync>>>,
}

impl<B: Clone> Clone for L1Backend<B> {
    fn clone(&self) -> Self {
        L1Backend { inner: self.inner.clone(), shared: Arc::clone(&self.shared) }
    }
}

/// Builds an [`L1Backend`].
#[derive(Debug, Clone)]
#[must_use]
pub struct L1Builder {
    bound: Bound,
    time_to_live: Option<Duration>,
    prefixes: Vec<String>,
}

impl Default for L1Builder {
    fn default() -> Self {
        L1Builder { bound: Bound::Entries(10_000), time_to_live: None, prefixes: Vec::new() }
    }
}

impl L1Builder {
    /// Keeps at most `capacity` entries (at least 1; 10,000 by default).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.bound = Bound::Entries(u64::try_from(capacity.max(1)).unwrap_or(u64::MAX));
        self
    }

    /// Keeps at most about `bytes` bytes of keys and values (each entry also counts about 100
    /// bytes of bookkeeping), instead of a number of entries.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.bound = Bound::Bytes(bytes.max(1));
        self
    }

    /// Drops each entry once it has been in the L1 for `time_to_live` (at least 1 ms).
    pub fn time_to_live(mut self, time_to_live: Duration) -> Self {
        self.time_to_live = Some(time_to_live.max(Duration::from_millis(1)));
        self
    }

    /// Keeps only keys (or hash names) that start with one of `prefixes`; others always go to
    /// the backend. An invalidation source then watches these prefixes only.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::backend::{L1Backend, MemoryBackend};
    ///
    /// let l1 = L1Backend::builder().prefixes(["user:", "catalog:"]).build(MemoryBackend::default());
    /// ```
    pub fn prefixes<I, S>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.prefixes = prefixes.into_iter().map(Into::into).collect();
        self
    }

    /// A builder from configuration arguments: `capacity` (entries) or `max_bytes`,
    /// `time_to_live` (seconds) and `prefixes` (a string or a list), all optional; other keys
    /// are ignored. The Redis backends read these from their `l1` table.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a value of the wrong type, a zero bound, or both bounds.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::backend::L1Builder;
    /// use dogpile::config::Arguments;
    ///
    /// let args = Arguments::new().with("capacity", 50_000).with("prefixes", "user:");
    /// let l1 = L1Builder::from_arguments(&args)?;
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    pub fn from_arguments(args: &crate::config::Arguments) -> Result<Self> {
        let mut builder = L1Builder::default();
        if let Some(bound) = Bound::from_arguments(args)? {
            builder.bound = bound;
        }
        if let Some(time_to_live) = args.get_seconds("time_to_live")? {
            builder = builder.time_to_live(time_to_live);
        }
        if let Some(prefixes) = args.get_str_list("prefixes")? {
            builder = builder.prefixes(prefixes);
        }
        Ok(builder)
    }

    /// An L1 that serves at once, coherent with this process's writes only.
    pub fn build<B: Backend>(self, inner: B) -> L1Backend<B> {
        self.make(inner, L1Status::Active)
    }

    /// An L1 that passes every call to `inner` until an invalidation source calls
    /// [`L1Invalidator::resume`] (for sources in other crates; see [`L1Backend::invalidator`]).
    pub fn build_pending<B: Backend>(self, inner: B) -> L1Backend<B> {
        self.make(inner, L1Status::Starting)
    }

    fn make<B: Backend>(self, inner: B, status: L1Status) -> L1Backend<B> {
        let trusted = status == L1Status::Active;
        let store = Store::new(self.bound, self.time_to_live, self.prefixes, trusted, inner.name());
        let shared = Shared { store, status: tokio::sync::watch::Sender::new(status), keep: Mutex::new(Vec::new()) };
        L1Backend { inner, shared: Arc::new(shared) }
    }
}

impl L1Backend<()> {
    /// A builder.
    pub fn builder() -> L1Builder {
        L1Builder::default()
    }
}

impl<B> L1Backend<B> {
    /// The backend behind the L1.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// What the L1 did so far.
    pub fn stats(&self) -> L1Stats {
        self.shared.store.counters.snapshot(self.shared.store.len())
    }

    /// Where the L1 stands with its invalidation source.
    pub fn status(&self) -> L1Status {
        self.shared.status.borrow().clone()
    }

    /// The weight of what the L1 holds: entries, or about bytes under
    /// [`max_bytes`](L1Builder::max_bytes).
    pub fn weighted_size(&self) -> u64 {
        self.shared.store.weighted_size()
    }

    /// The handle for an invalidation source.
    pub fn invalidator(&self) -> L1Invalidator {
        L1Invalidator::new(&self.shared)
    }

    /// Waits until the invalidation source has started (at once without one).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the source cannot work (the server cannot track keys); a
    /// backend error when its first attempt to start failed (it keeps trying, and the L1
    /// serves once it succeeds).
    pub async fn ready(&self) -> Result<()> {
        let mut status = self.shared.status.subscribe();
        let seen = status.wait_for(|s| *s != L1Status::Starting).await.map(|s| s.clone());
        match seen {
            Ok(L1Status::Refused { reason }) => Err(Error::config("l1", reason)),
            Ok(L1Status::Suspended { reason }) => Err(Error::backend(BackendErrorKind::Connection, reason)),
            _ => Ok(()),
        }
    }
}

impl<B: Backend> Backend for L1Backend<B> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn get_ready(&self, key: KeyRef<'_>) -> Option<Result<Option<Bytes>>> {
        let value = self.shared.store.get(key)?;
        self.shared.store.counters.hit();
        Some(Ok(Some(value)))
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        if let Some(Ok(value)) = self.get_ready(key.as_key_ref()) {
            return Ok(value);
        }
        let store = &self.shared.store;
        let ticket = store.ticket(key);
        self.count_misses([key]);
        let value = self.inner.get(key).await?;
        if let Some(value) = &value {
            store.fill(key, value.clone(), ticket);
        }
        Ok(value)
    }

    async fn get_multi(&self, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>> {
        let store = &self.shared.store;
        let mut out: Vec<Option<Bytes>> = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            match self.get_ready(key.as_key_ref()) {
                Some(Ok(value)) => out.push(value),
                _ => {
                    out.push(None);
                    missing.push(i);
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let tickets: Vec<_> = missing.iter().map(|&i| store.ticket(&keys[i])).collect();
        self.count_misses(missing.iter().map(|&i| &keys[i]));
        let read = if missing.len() == keys.len() {
            self.inner.get_multi(keys).await?
        } else {
            let to_read: Vec<CacheKey> = missing.iter().map(|&i| keys[i].clone()).collect();
            self.inner.get_multi(&to_read).await?
        };
        for ((&i, ticket), value) in missing.iter().zip(tickets).zip(read) {
            if let Some(value) = &value {
                store.fill(&keys[i], value.clone(), ticket);
            }
            out[i] = value;
        }
        Ok(out)
    }

    async fn set(&self, key: &CacheKey, value: Bytes) -> Result<()> {
        let store = &self.shared.store;
        let ticket = store.ticket(key);
        let stored = self.inner.set(key, value.clone()).await;
        store.wrote(key, stored.is_ok().then_some(value), ticket);
        stored
    }

    async fn set_multi(&self, items: &[(CacheKey, Bytes)]) -> Result<()> {
        let tickets = self.tickets(items.iter().map(|(key, _)| key));
        let stored = self.inner.set_multi(items).await;
        self.wrote_all(items, tickets, stored.is_ok());
        stored
    }

    async fn delete(&self, key: &CacheKey) -> Result<()> {
        let deleted = self.inner.delete(key).await;
        self.shared.store.wrote(key, None, None);
        deleted
    }

    async fn delete_multi(&self, keys: &[CacheKey]) -> Result<()> {
        let deleted = self.inner.delete_multi(keys).await;
        for key in keys {
            self.shared.store.wrote(key, None, None);
        }
        deleted
    }

    fn get_mutex(&self, key: &CacheKey) -> Option<Arc<dyn BackendMutex>> {
        self.inner.get_mutex(key)
    }

    async fn try_lock_multi(&self, keys: &[CacheKey]) -> Result<Vec<Option<Locked>>> {
        self.inner.try_lock_multi(keys).await
    }

    async fn set_multi_and_release(
        &self,
        items: &[(CacheKey, Bytes)],
        mutexes: Vec<Arc<dyn BackendMutex>>,
    ) -> (Result<()>, Vec<Result<()>>) {
        let tickets = self.tickets(items.iter().map(|(key, _)| key));
        let (stored, released) = self.inner.set_multi_and_release(items, mutexes).await;
        self.wrote_all(items, tickets, stored.is_ok());
        (stored, released)
    }

    fn key_mangler(&self) -> Option<crate::KeyMangler> {
        self.inner.key_mangler()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn tag_store(&self) -> Option<crate::backend::SharedTagStore> {
        self.inner.tag_store()
    }
}

impl<B> L1Backend<B> {
    fn tickets<'a>(&self, keys: impl Iterator<Item = &'a CacheKey>) -> Vec<Option<store::Ticket>> {
        keys.map(|key| self.shared.store.ticket(key)).collect()
    }

    fn wrote_all(&self, items: &[(CacheKey, Bytes)], tickets: Vec<Option<store::Ticket>>, stored: bool) {
        for ((key, value), ticket) in items.iter().zip(tickets) {
            self.shared.store.wrote(key, stored.then(|| value.clone()), ticket);
        }
    }

    fn count_misses<'a>(&self, keys: impl IntoIterator<Item = &'a CacheKey>) {
        let store = &self.shared.store;
        let taken = keys.into_iter().filter(|key| store.takes(Store::name(key.as_key_ref()))).count() as u64;
        store.counters.missed(taken);
    }
}

impl<B: fmt::Debug> fmt::Debug for L1Backend<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("L1Backend")
            .field("inner", &self.inner)
            .field("bound", &self.shared.store.bound)
            .field("prefixes", &self.shared.store.prefixes())
            .field("status", &*self.shared.status.borrow())
            .finish()
    }
}
