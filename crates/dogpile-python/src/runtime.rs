//! The tokio runtime the Redis I/O of every backend runs on, one per process.
//!
//! A forked child (a worker of a pre-fork server such as gunicorn or uWSGI) has none of its
//! parent's threads, so the parent's runtime cannot run there: the first call in the child
//! builds a runtime of its own, and the parent's is left alone (never dropped, as its
//! threads are not there to stop). The Python backends rebuild their connections in the child
//! the same way.

use std::future::Future;
use std::sync::Mutex;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::error::BackendError;

/// The runtime of this process. Taken with the GIL held, so no other thread holds the lock
/// when Python forks.
fn runtime() -> PyResult<&'static Runtime> {
    static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut current = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((owner, runtime)) = *current
        && owner == pid
    {
        return Ok(runtime);
    }
    // Two worker threads: the I/O is small, and the Python threads calling in wait on it with
    // the GIL released.
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("dogpile-rs")
        .enable_all()
        .build()
        .map_err(|e| BackendError::new_err(format!("cannot start the I/O runtime: {e}")))?;
    let runtime: &'static Runtime = Box::leak(Box::new(built));
    *current = Some((pid, runtime));
    Ok(runtime)
}

/// Runs `io` to completion on the runtime, with the GIL released meanwhile.
pub(crate) fn block_on<T: Send>(py: Python<'_>, io: impl Future<Output = T> + Send) -> PyResult<T> {
    let runtime = runtime()?;
    Ok(py.detach(|| runtime.block_on(io)))
}

/// Enters the runtime, for building what may spawn tasks on it.
pub(crate) fn enter() -> PyResult<tokio::runtime::EnterGuard<'static>> {
    Ok(runtime()?.enter())
}

/// Spawns `work` on the runtime.
pub(crate) fn spawn<F>(work: F) -> PyResult<tokio::task::JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(runtime()?.spawn(work))
}
