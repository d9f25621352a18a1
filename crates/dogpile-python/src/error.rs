//! dogpile-rs errors as Python exceptions.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::{PyErr, create_exception};

create_exception!(
    dogpile_rs,
    BackendError,
    pyo3::exceptions::PyException,
    "A cache backend operation failed: the server is unreachable or refused the command, a key \
     holds another type, a lock was lost. The message names the key and the cause; it never \
     holds a password."
);

/// The Python exception for a dogpile-rs error: `ValueError` for bad configuration,
/// `TypeError` for a key the backend cannot store, `BackendError` otherwise.
pub(crate) fn to_py(err: dogpile::Error) -> PyErr {
    match err {
        dogpile::Error::Config { .. } => PyValueError::new_err(err.to_string()),
        dogpile::Error::UnsupportedKey { .. } => PyTypeError::new_err(err.to_string()),
        other => BackendError::new_err(other.to_string()),
    }
}
