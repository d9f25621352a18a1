//! The dogpile-rs Redis backends for Python's dogpile.cache.
//!
//! This crate builds the extension module `dogpile_rs._dogpile_rs` of the Python package
//! `dogpile_rs` (with maturin; see the package's README section in the repository's README).
//! The package's backend classes are thin `dogpile.cache.api.CacheBackend` subclasses that
//! hold a `Backend` from here: each region operation is one call into Rust, which makes and
//! reads dogpile's entries (`values`) and does the Redis I/O with the GIL released, on the
//! calling thread (`local`) or on a shared tokio runtime (`runtime`).

mod aio;
mod arguments;
mod backend;
mod error;
mod key;
mod local;
mod mutex;
mod region;
mod runtime;
mod values;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _dogpile_rs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<backend::Backend>()?;
    m.add_class::<mutex::Mutex>()?;
    m.add_class::<region::Region>()?;
    m.add("BackendError", m.py().get_type::<error::BackendError>())?;
    m.add_function(wrap_pyfunction!(after_fork_in_child, m)?)?;
    m.add("backend_names", backend::NAMES.iter().map(|(python, _)| *python).collect::<Vec<_>>())?;
    Ok(())
}

/// Called in a forked child (the package registers it with `os.register_at_fork`): the
/// parent's per-thread connections are never used or closed there.
#[pyfunction]
fn after_fork_in_child() {
    local::forget_after_fork();
}
