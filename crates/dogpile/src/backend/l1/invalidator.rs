//! The handle through which an invalidation source keeps an L1 coherent.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Weak};

use super::Shared;

/// Where an [`L1Backend`](super::L1Backend) stands with its invalidation source.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum L1Status {
    /// Serving and storing values.
    Active,
    /// Waiting for its invalidation source to start; every call goes to the backend.
    Starting,
    /// Its invalidation source lost its connection: the L1 was flushed, and every call goes
    /// to the backend until the source is back.
    Suspended {
        /// Why.
        reason: String,
    },
    /// The invalidation source cannot work (a server that cannot track keys): the L1 stays
    /// out of the way, and every call goes to the backend.
    Refused {
        /// Why.
        reason: String,
    },
}

/// What an invalidation source (Redis key tracking, say) holds to keep an L1 coherent with
/// writes made elsewhere. It does not keep the L1 alive: once the last
/// [`L1Backend`](super::L1Backend) is dropped, its calls do nothing and
/// [`is_alive`](L1Invalidator::is_alive) turns false.
///
/// # Examples
///
/// ```
/// use dogpile::backend::{L1Backend, L1Status, MemoryBackend};
///
/// let l1 = L1Backend::builder().build_pending(MemoryBackend::default());
/// assert_eq!(l1.status(), L1Status::Starting);
/// let invalidator = l1.invalidator();
/// invalidator.resume();
/// assert_eq!(l1.status(), L1Status::Active);
/// invalidator.invalidate(b"user:42");
/// invalidator.suspend("connection lost");
/// assert!(matches!(l1.status(), L1Status::Suspended { .. }));
/// ```
#[derive(Clone)]
pub struct L1Invalidator {
    shared: Weak<Shared>,
}

impl L1Invalidator {
    pub(super) fn new(shared: &Arc<Shared>) -> Self {
        L1Invalidator { shared: Arc::downgrade(shared) }
    }

    fn with(&self, f: impl FnOnce(&Shared)) {
        if let Some(shared) = self.shared.upgrade() {
            f(&shared);
        }
    }

    /// Drops what the L1 holds under the backend's key `name`: a plain key, or a hash with
    /// every field of it.
    pub fn invalidate(&self, name: &[u8]) {
        self.with(|shared| shared.store.invalidate(name));
    }

    /// Drops every entry (the backend's database was flushed, say); the L1 stays active.
    pub fn invalidate_all(&self) {
        self.with(|shared| shared.store.flush());
    }

    /// Flushes the L1 and passes every call to the backend until [`resume`](Self::resume):
    /// invalidations may be missed from now on.
    pub fn suspend(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.with(|shared| {
            shared.store.set_trusted(false);
            shared.status.send_replace(L1Status::Suspended { reason });
        });
    }

    /// Serves and stores values again: every invalidation from now on will be delivered.
    pub fn resume(&self) {
        self.with(|shared| {
            shared.store.set_trusted(true);
            shared.status.send_replace(L1Status::Active);
        });
    }

    /// Gives up: the L1 stays out of the way for good, and
    /// [`ready`](super::L1Backend::ready) reports `reason`.
    pub fn refuse(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.with(|shared| {
            shared.store.set_trusted(false);
            shared.status.send_replace(L1Status::Refused { reason });
        });
    }

    /// The key prefixes the L1 takes (empty: every key), for a source that can watch only
    /// these.
    pub fn prefixes(&self) -> Vec<String> {
        self.shared.upgrade().map(|shared| shared.store.prefixes().to_vec()).unwrap_or_default()
    }

    /// Whether the L1 is still in use.
    pub fn is_alive(&self) -> bool {
        self.shared.strong_count() > 0
    }

    /// Keeps `guard` until the L1 is dropped (a source's task handle that stops the task when
    /// dropped, say).
    pub fn keep(&self, guard: impl Any + Send + Sync) {
        self.with(|shared| shared.keep.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(guard)));
    }
}

impl fmt::Debug for L1Invalidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("L1Invalidator").field("alive", &self.is_alive()).finish()
    }
}
