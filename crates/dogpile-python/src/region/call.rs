//! A creator's call: on the caller's event loop for an awaitable region, on the calling
//! thread for a blocking one.

use std::collections::HashMap;
use std::sync::Arc;

use dogpile::{BoxError, CacheKey};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::value::PyValue;
use crate::aio::Caller;

/// Where a creator runs.
#[derive(Clone)]
pub(super) enum Runner {
    /// Called on the caller's loop, and awaited there when it returns an awaitable.
    Loop(Caller),
    /// Called where the region's future runs: the calling thread, which waits on it.
    Thread,
}

impl Runner {
    async fn run<T, Take>(
        &self,
        callable: Arc<Py<PyAny>>,
        args: Arc<Py<PyTuple>>,
        kwargs: Option<Arc<Py<PyDict>>>,
        take: Take,
    ) -> PyResult<T>
    where
        T: Send + 'static,
        Take: FnOnce(Python<'_>, Bound<'_, PyAny>) -> PyResult<T> + Send + 'static,
    {
        match self {
            Runner::Loop(caller) => caller.run(callable, args, kwargs, take).await,
            Runner::Thread => Python::attach(|py| {
                let kwargs = kwargs.as_ref().map(|k| k.bind(py));
                let made = callable.bind(py).call(args.bind(py), kwargs)?;
                take(py, made)
            }),
        }
    }
}

/// The creator of a `get_or_create` or `get_or_create_multi` call, with its arguments and
/// `should_cache_fn`.
pub(super) struct Call {
    pub(super) runner: Runner,
    pub(super) creator: Arc<Py<PyAny>>,
    pub(super) args: Arc<Py<PyTuple>>,
    pub(super) kwargs: Option<Arc<Py<PyDict>>>,
    pub(super) should_cache: Option<Arc<Py<PyAny>>>,
}

impl Call {
    /// Whether `should_cache_fn` lets `made` be stored, and `made` pickled.
    fn value(should_cache: &Option<Arc<Py<PyAny>>>, made: Bound<'_, PyAny>) -> PyResult<PyValue> {
        let cache = match should_cache {
            Some(predicate) => predicate.bind(made.py()).call1((&made,))?.is_truthy()?,
            None => true,
        };
        PyValue::of(made.py(), made, cache)
    }

    /// `creator(*args, **kwargs)`: one value.
    pub(super) async fn create(self) -> Result<PyValue, BoxError> {
        let should_cache = self.should_cache;
        let take = move |_: Python<'_>, made: Bound<'_, PyAny>| Call::value(&should_cache, made);
        let made = self.runner.run(self.creator, self.args, self.kwargs, take).await;
        made.map_err(|err| Box::new(err) as BoxError)
    }

    /// `creator(*keys)`, with the Python keys of `missing` as `originals` names them: one value
    /// per key, in order (dogpile's multi creator).
    pub(super) async fn create_multi(
        self,
        missing: Vec<CacheKey>,
        originals: Arc<HashMap<CacheKey, Py<PyAny>>>,
    ) -> Result<Vec<PyValue>, BoxError> {
        let should_cache = self.should_cache;
        let wanted = missing.len();
        let args = Python::attach(|py| {
            let keys = missing.iter().filter_map(|key| originals.get(key).map(|k| k.bind(py))).collect::<Vec<_>>();
            PyTuple::new(py, keys).map(|args| Arc::new(args.unbind()))
        })
        .map_err(|err| Box::new(err) as BoxError)?;
        let take = move |_: Python<'_>, made: Bound<'_, PyAny>| {
            let values =
                made.try_iter()?.map(|value| Call::value(&should_cache, value?)).collect::<PyResult<Vec<_>>>()?;
            if values.len() != wanted {
                return Err(PyValueError::new_err(format!(
                    "the creator returned {} values for {wanted} keys",
                    values.len()
                )));
            }
            Ok(values)
        };
        let made = self.runner.run(self.creator, args, None, take).await;
        made.map_err(|err| Box::new(err) as BoxError)
    }
}
