//! Storing what a creation made and releasing the locks it held, in one backend call, and
//! what a failed release means for the caller.

use std::sync::Arc;

use bytes::Bytes;

use super::{Region, trace};
use crate::backend::BackendMutex;
use crate::error::{Error, Result};
use crate::key::CacheKey;
use crate::mutex::KeyGuard;

impl Region {
    /// Stores `items` and releases the locks of `guards` (positions in `keys`, guards) in one
    /// backend call (one round trip on Redis). A failed store goes to the sink; the first
    /// failed release is returned as [`Region::released`] decides. If this future is
    /// dropped first, the backend's locks are released in the background.
    pub(crate) async fn store_and_release(
        &self,
        items: Vec<(CacheKey, Bytes)>,
        guards: impl IntoIterator<Item = (usize, KeyGuard)>,
        keys: &[&CacheKey],
    ) -> Result<()> {
        let mut remotes = Vec::new();
        let mut owners = Vec::new();
        let mut locals = Vec::new();
        for (i, guard) in guards {
            let (remote, local) = guard.into_parts();
            locals.push(local);
            if let Some(remote) = remote {
                remotes.push(remote);
                owners.push(keys[i]);
            }
        }
        if items.is_empty() && remotes.is_empty() {
            return Ok(());
        }
        let pending = ReleaseOnDrop(remotes.clone());
        let (stored, released) = self.inner.spanned.set_multi_and_release(&items, remotes).await;
        pending.disarm();
        if let Err(err) = stored {
            // One key: the error names it.
            self.report(&match keys {
                [only] => err.with_key(*only),
                _ => err,
            });
        }
        let mut outcome = Ok(());
        for (key, released) in owners.into_iter().zip(released) {
            outcome = outcome.and(self.released(key, released));
        }
        drop(locals);
        outcome
    }

    /// The outcome of releasing the mutex of `key` after the caller got its value: a backend
    /// failure (the server went away; the backend settles its lock by itself) goes to the
    /// error sink, like a failed store, and the caller keeps the value. A lost lock under the
    /// `error` policy is the caller's.
    pub(crate) fn released(&self, key: &CacheKey, released: Result<()>) -> Result<()> {
        if let Err(Error::LockLost { .. }) = &released {
            trace::decision!(self, key, "lock lost before its release");
        }
        match released {
            Err(err @ Error::Backend { .. }) => {
                self.report(&err.with_key(key));
                Ok(())
            }
            other => other.map_err(|e| e.with_key(key)),
        }
    }
}

/// Backend mutexes to release in the background if the call releasing them is dropped.
struct ReleaseOnDrop(Vec<Arc<dyn BackendMutex>>);

impl ReleaseOnDrop {
    fn disarm(mut self) {
        self.0.clear();
    }
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let mutexes = std::mem::take(&mut self.0);
            handle.spawn(async move {
                for mutex in mutexes {
                    let _ = mutex.release().await;
                }
            });
        }
    }
}
