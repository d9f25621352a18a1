//! Python cache keys as dogpile-rs keys.

use dogpile::CacheKey;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

/// A string key, or a `(hash, field)` tuple of strings (a field of a Redis hash on the hstore
/// backends).
pub(crate) fn to_key(key: &Bound<'_, PyAny>) -> PyResult<CacheKey> {
    if let Ok(text) = key.cast::<PyString>() {
        return Ok(CacheKey::from(text.to_cow()?.into_owned()));
    }
    if let Ok(pair) = key.cast::<PyTuple>()
        && pair.len() == 2
    {
        let (name, field) = (pair.get_item(0)?, pair.get_item(1)?);
        if let (Ok(name), Ok(field)) = (name.cast::<PyString>(), field.cast::<PyString>()) {
            return Ok(CacheKey::hash(name.to_cow()?.into_owned(), field.to_cow()?.into_owned()));
        }
    }
    Err(PyTypeError::new_err(format!(
        "a cache key is a str or a (hash, field) tuple of str, got {}",
        key.get_type().name()?
    )))
}

/// Each of `keys` as a dogpile-rs key.
pub(crate) fn to_keys(keys: &Bound<'_, PyAny>) -> PyResult<Vec<CacheKey>> {
    keys.try_iter()?.map(|key| to_key(&key?)).collect()
}
