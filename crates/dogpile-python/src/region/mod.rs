//! The dogpile-rs region for Python, awaitable (asyncio) or blocking: each method builds the
//! Rust region's future and hands it to the caller's event loop (`aio`) or waits for it with
//! the GIL released; values are stored as dogpile.cache 1.x stores them (`value`). The dogpile
//! lock, the distributed lock, stale serving and the resilience options are the Rust
//! region's; a creator is the caller's callable, run on the caller's event loop or thread
//! (`call`).

mod call;
mod options;
mod value;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use dogpile::CacheKey;
use dogpile::region::{CreateOptions, GetOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyList, PyTuple};

use crate::aio::Caller;
use crate::arguments::to_arguments;
use crate::error::to_py;
use crate::key::{to_key, to_keys};
use crate::runtime::{block_on, enter};
use call::{Call, Runner};
use value::PyValue;

/// A dogpile-rs region: `Region(backend, arguments, expiration_time, awaitable, options)` with a
/// backend name of the package (or `"dogpile_rs.memory"`), dogpile's `arguments` dictionary
/// and the region's expiration time in seconds (`None`: never). Its methods return awaitables
/// of the running event loop when `awaitable`, and their results otherwise; `options` are the
/// resilience options (`options`).
#[pyclass(frozen, module = "dogpile_rs._dogpile_rs")]
pub(crate) struct Region {
    inner: dogpile::Region,
    awaitable: bool,
    /// Expired values are returned at once while a spawned task regenerates them.
    background: bool,
}

/// The dogpile-rs registry name of a backend the package names.
fn registry_name(python: &str) -> PyResult<&'static str> {
    if python == "dogpile_rs.memory" || python == "dogpile.cache.memory" {
        return Ok("memory");
    }
    crate::backend::NAMES.iter().find(|(name, _)| *name == python).map(|(_, rust)| *rust).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown backend {python:?}: \"dogpile_rs.memory\" or one of {:?}",
            crate::backend::NAMES.map(|(name, _)| name)
        ))
    })
}

/// dogpile's per-call `expiration_time`: seconds, or -1 for none.
fn get_options(expiration_time: Option<f64>, ignore_expiration: bool) -> GetOptions {
    let options = GetOptions::new().ignore_expiration(ignore_expiration);
    match expiration_time {
        None => options,
        Some(seconds) if seconds < 0.0 => options.no_expiration(),
        Some(seconds) => options.expiration_time(Duration::from_secs_f64(seconds)),
    }
}

/// The options of a read-through: dogpile's per-call `expiration_time` (seconds, -1 for none)
/// and what `should_cache_fn` said of the made value.
fn create_options(expiration_time: Option<f64>) -> CreateOptions<PyValue> {
    let options = CreateOptions::<PyValue>::new().should_cache(|value| value.cache);
    match expiration_time {
        Some(seconds) => options.expiration_seconds(seconds),
        None => options,
    }
}

/// The Python exception of a region error: a creator's own exception as it raised it.
fn region_error(err: dogpile::Error) -> PyErr {
    if let dogpile::Error::Creator { source, .. } = err {
        return match source.downcast::<PyErr>() {
            Ok(err) => *err,
            Err(source) => crate::error::BackendError::new_err(format!("the creator failed: {source}")),
        };
    }
    to_py(err)
}

/// The Python object of what a read found: the value, or dogpile's `NO_VALUE`.
fn found_object(py: Python<'_>, found: Option<PyValue>) -> PyResult<Py<PyAny>> {
    static NO_VALUE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    match found {
        Some(value) => value.into_object(py),
        None => NO_VALUE
            .get_or_try_init(py, || Ok::<_, PyErr>(py.import("dogpile.cache.api")?.getattr("NO_VALUE")?.unbind()))
            .map(|no_value| no_value.clone_ref(py)),
    }
}

/// A Python list of `values`, each made a Python object by `object`.
fn list_of<T>(
    py: Python<'_>,
    values: Vec<T>,
    object: impl Fn(Python<'_>, T) -> PyResult<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let objects = values.into_iter().map(|value| object(py, value)).collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, objects)?.into_any().unbind())
}

/// `None`, or the Python exception of a region error.
fn done(py: Python<'_>, result: dogpile::Result<()>) -> PyResult<Py<PyAny>> {
    result.map(|()| py.None()).map_err(region_error)
}

/// The creator, its arguments and `should_cache_fn` of a read-through, as a Python call.
fn call_of<'py>(
    runner: Runner,
    creator: Bound<'py, PyAny>,
    should_cache_fn: Option<Bound<'py, PyAny>>,
    creator_args: Option<(Bound<'py, PyTuple>, Option<Bound<'py, PyDict>>)>,
) -> Call {
    let (args, kwargs) = match creator_args {
        Some((args, kwargs)) => (args, kwargs),
        None => (PyTuple::empty(creator.py()), None),
    };
    Call {
        runner,
        creator: Arc::new(creator.unbind()),
        args: Arc::new(args.unbind()),
        kwargs: kwargs.map(|k| Arc::new(k.unbind())),
        should_cache: should_cache_fn.map(|f| Arc::new(f.unbind())),
    }
}

impl Region {
    /// `work`'s output as `finish` makes it a Python object: an awaitable of the running loop,
    /// or (blocking) the object itself once `work` is done, waited for with the GIL released.
    fn call<'py, T, Fut, Finish>(&self, py: Python<'py>, work: Fut, finish: Finish) -> PyResult<Bound<'py, PyAny>>
    where
        T: Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        Finish: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
    {
        if self.awaitable {
            return Caller::current(py)?.spawn(py, work, finish);
        }
        let output = block_on(py, work)?;
        Ok(finish(py, output)?.into_bound(py))
    }

    /// Where this region's creators run.
    fn runner(&self, py: Python<'_>) -> PyResult<Runner> {
        Ok(if self.awaitable { Runner::Loop(Caller::with_context(py)?) } else { Runner::Thread })
    }
}

#[pymethods]
impl Region {
    #[new]
    #[pyo3(signature = (backend, arguments, expiration_time=None, awaitable=true, options=None))]
    fn new(
        backend: &str,
        arguments: &Bound<'_, PyDict>,
        expiration_time: Option<f64>,
        awaitable: bool,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let name = registry_name(backend)?;
        dogpile_redis::register();
        let _runtime = enter()?;
        let mut builder = dogpile::Region::builder().configure(name, to_arguments(arguments)?).codec(value::codec());
        if let Some(seconds) = expiration_time.filter(|s| *s >= 0.0) {
            builder = builder.expiration_time(Duration::from_secs_f64(seconds));
        }
        if let Some(options) = options {
            builder = options::apply(builder, options)?;
        }
        let background = options::background(options)?;
        Ok(Region { inner: builder.build().map_err(to_py)?, awaitable, background })
    }

    /// `NO_VALUE` or the value at `key`.
    #[pyo3(signature = (key, expiration_time=None, ignore_expiration=false))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        expiration_time: Option<f64>,
        ignore_expiration: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (region, key) = (self.inner.clone(), to_key(key)?);
        let options = get_options(expiration_time, ignore_expiration);
        let work = async move { region.get_with::<PyValue>(key, options).await };
        self.call(py, work, |py, found| found_object(py, found.map_err(region_error)?))
    }

    /// The values at `keys`, `NO_VALUE` where there is none, in one round trip.
    #[pyo3(signature = (keys, expiration_time=None, ignore_expiration=false))]
    fn get_multi<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
        expiration_time: Option<f64>,
        ignore_expiration: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (region, keys) = (self.inner.clone(), to_keys(keys)?);
        let options = get_options(expiration_time, ignore_expiration);
        let work = async move { region.get_multi_with::<PyValue, _>(keys, options).await };
        self.call(py, work, |py, found| list_of(py, found.map_err(region_error)?, found_object))
    }

    /// Stores `value` at `key`.
    fn set<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        value: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (region, key, value) = (self.inner.clone(), to_key(key)?, PyValue::of(py, value, true)?);
        let work = async move { region.set(key, &value).await };
        self.call(py, work, done)
    }

    /// Stores each value of `mapping` at its key, in one round trip.
    fn set_multi<'py>(&self, py: Python<'py>, mapping: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
        let items = mapping
            .iter()
            .map(|(key, value)| Ok((to_key(&key)?, PyValue::of(py, value, true)?)))
            .collect::<PyResult<Vec<(CacheKey, PyValue)>>>()?;
        let region = self.inner.clone();
        let work = async move { region.set_multi(items.iter().map(|(k, v)| (k.clone(), v))).await };
        self.call(py, work, done)
    }

    /// Deletes `key`.
    fn delete<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (region, key) = (self.inner.clone(), to_key(key)?);
        let work = async move { region.delete(key).await };
        self.call(py, work, done)
    }

    /// Deletes `keys`, in one round trip.
    fn delete_multi<'py>(&self, py: Python<'py>, keys: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (region, keys) = (self.inner.clone(), to_keys(keys)?);
        let work = async move { region.delete_multi(keys).await };
        self.call(py, work, done)
    }

    /// The value at `key`, made by `creator(*creator_args[0], **creator_args[1])` on the
    /// caller's loop (awaited if it returns an awaitable) when there is none or it expired: one
    /// caller creates, the others wait for it or get the expired value meanwhile.
    #[pyo3(signature = (key, creator, expiration_time=None, should_cache_fn=None, creator_args=None))]
    fn get_or_create<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        creator: Bound<'py, PyAny>,
        expiration_time: Option<f64>,
        should_cache_fn: Option<Bound<'py, PyAny>>,
        creator_args: Option<(Bound<'py, PyTuple>, Option<Bound<'py, PyDict>>)>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (region, key, options) = (self.inner.clone(), to_key(key)?, create_options(expiration_time));
        let call = call_of(self.runner(py)?, creator, should_cache_fn, creator_args);
        let background = self.background;
        let work = async move {
            let create = move || call.create();
            match background {
                true => region.get_or_create_in_background(key, &options, create).await,
                false => region.get_or_create_with(key, &options, create).await,
            }
        };
        self.call(py, work, |py, made| made.map_err(region_error)?.into_object(py))
    }

    /// The values at `keys`, in order; the missing and expired ones made by one call of
    /// `creator(*keys)` (with the keys it must make; one value each, in order) under each
    /// key's dogpile lock.
    #[pyo3(signature = (keys, creator, expiration_time=None, should_cache_fn=None))]
    fn get_or_create_multi<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
        creator: Bound<'py, PyAny>,
        expiration_time: Option<f64>,
        should_cache_fn: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut originals = HashMap::new();
        let mut cache_keys = Vec::new();
        for key in keys.try_iter()? {
            let key = key?;
            let cache_key = to_key(&key)?;
            originals.entry(cache_key.clone()).or_insert_with(|| key.unbind());
            cache_keys.push(cache_key);
        }
        let (region, options, originals) = (self.inner.clone(), create_options(expiration_time), Arc::new(originals));
        let call = call_of(self.runner(py)?, creator, should_cache_fn, None);
        let background = self.background;
        let work = async move {
            let create = move |missing: Vec<CacheKey>| call.create_multi(missing, originals);
            match background {
                true => region.get_or_create_multi_in_background(cache_keys, &options, create).await,
                false => region.get_or_create_multi_with(cache_keys, &options, create).await,
            }
        };
        self.call(py, work, |py, made| list_of(py, made.map_err(region_error)?, |py, value| value.into_object(py)))
    }

    /// Whether a caller is creating the value at `key` now.
    fn key_is_locked<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (region, key) = (self.inner.clone(), to_key(key)?);
        let work = async move { region.key_is_locked(key).await };
        self.call(py, work, |py, locked| {
            let locked = locked.map_err(region_error)?;
            Ok(PyBool::new(py, locked).to_owned().into_any().unbind())
        })
    }

    /// Invalidates every value written before now: hard (they are misses) or soft (they are
    /// regenerated by one caller while the others get them).
    #[pyo3(signature = (hard=true))]
    fn invalidate(&self, hard: bool) {
        self.inner.invalidate(hard);
    }
}
