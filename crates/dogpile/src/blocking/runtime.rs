//! The runtime a blocking region owns.

use std::fmt;
use std::future::Future;

use crate::error::{Error, Result};

/// A small runtime for the facade: one worker thread for background work (regeneration,
/// connection upkeep); `block_on` runs each call on the caller's thread.
pub(crate) struct OwnedRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl OwnedRuntime {
    pub(crate) fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dogpile-blocking")
            .enable_time()
            .build()
            .map_err(|e| Error::config("runtime", format!("cannot start the blocking facade's runtime: {e}")))?;
        Ok(OwnedRuntime { runtime: Some(runtime) })
    }

    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.runtime {
            Some(runtime) => runtime.block_on(future),
            // Only `drop` takes the runtime out.
            None => unreachable!("runtime used after drop"),
        }
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        // Never blocks, so dropping the last region handle is safe anywhere, even inside
        // another runtime; background tasks still running are cancelled.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl fmt::Debug for OwnedRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedRuntime").finish_non_exhaustive()
    }
}
