//! The tokio runtime the Redis I/O of every backend runs on.

use std::future::Future;
use std::sync::OnceLock;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::error::BackendError;

/// Two worker threads: the I/O is small and the Python threads calling in wait on it with the
/// GIL released.
fn runtime() -> PyResult<&'static Runtime> {
    static RUNTIME: OnceLock<std::io::Result<Runtime>> = OnceLock::new();
    let built = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("dogpile-rs").enable_all().build()
    });
    built.as_ref().map_err(|e| BackendError::new_err(format!("cannot start the I/O runtime: {e}")))
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
