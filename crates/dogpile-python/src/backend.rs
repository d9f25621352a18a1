//! One dogpile-rs Redis backend, as the Python package's backend classes hold it.

use std::future::Future;
use std::sync::Arc;

use dogpile::backend::DynBackend;
use dogpile::codec::Compressor;
use dogpile::{Bytes, CacheKey};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::arguments::to_arguments;
use crate::error::to_py;
use crate::key::{to_key, to_keys};
use crate::local::Twins;
use crate::mutex::Mutex;
use crate::runtime::{block_on, enter};
use crate::values::{Decoder, Encoder, Payload};

/// The Python names of the backends, each with the dogpile-rs registry name it builds.
pub(crate) const NAMES: [(&str, &str); 6] = [
    ("dogpile_rs.redis_advanced", "redis_advanced"),
    ("dogpile_rs.redis_advanced_hstore", "redis_advanced_hstore"),
    ("dogpile_rs.redis_advanced_cluster", "redis_advanced_cluster"),
    ("dogpile_rs.redis_advanced_hstore_cluster", "redis_advanced_hstore_cluster"),
    ("dogpile_rs.redis_advanced_sentinel", "redis_advanced_sentinel"),
    ("dogpile_rs.redis_advanced_hstore_sentinel", "redis_advanced_hstore_sentinel"),
];

/// A dogpile-rs Redis backend storing bytes: `Backend(name, arguments)` with one of the
/// package's backend names and dogpile's `arguments` dictionary.
#[pyclass(frozen, module = "dogpile_rs._dogpile_rs")]
pub(crate) struct Backend {
    /// The backend on the shared runtime: its locks, its L1, and all its I/O when the calls
    /// do not drive their own.
    inner: Arc<dyn DynBackend>,
    /// Each calling thread's twin, which that thread drives itself (`io = "calling_thread"`,
    /// the default, without an L1).
    twins: Option<Twins>,
    name: &'static str,
    distributed_lock: bool,
    /// How native values' payloads are written.
    payload: Payload,
    /// How entries are compressed (the `compression` arguments); compressed entries are read
    /// whatever it writes.
    compressor: Compressor,
}

/// Where a backend's calls do their I/O: the `io` argument.
fn on_calling_thread(arguments: &Bound<'_, PyDict>) -> PyResult<bool> {
    let io = arguments.get_item("io")?.map(|s| s.extract::<String>()).transpose()?;
    match io.as_deref() {
        None | Some("calling_thread") => Ok(arguments.get_item("l1")?.is_none()),
        Some("runtime") => Ok(false),
        Some(other) => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "unknown io {other:?}: \"calling_thread\" (the default) or \"runtime\""
        ))),
    }
}

impl Backend {
    /// Runs `io` with the GIL released: on this thread's twin, which this thread drives; or on
    /// the shared runtime.
    fn io<T, F, Fut>(&self, py: Python<'_>, io: F) -> PyResult<T>
    where
        T: Send,
        F: FnOnce(Arc<dyn DynBackend>) -> Fut + Send,
        Fut: Future<Output = dogpile::Result<T>> + Send,
    {
        match &self.twins {
            Some(twins) => py.detach(|| twins.run(io)).map_err(to_py),
            None => block_on(py, io(Arc::clone(&self.inner)))?.map_err(to_py),
        }
    }

    /// The bytes at `key`: from process memory when the backend has them at hand (an L1
    /// hit), without entering any runtime.
    fn read(&self, py: Python<'_>, key: CacheKey) -> PyResult<Option<Bytes>> {
        let stored = match self.inner.get_ready(key.as_key_ref()) {
            Some(ready) => ready.map_err(to_py)?,
            None => self.io(py, move |backend| async move { backend.get(&key).await })?,
        };
        Ok(self.entry(stored))
    }

    fn read_multi(&self, py: Python<'_>, keys: Vec<CacheKey>) -> PyResult<Vec<Option<Bytes>>> {
        let stored = self.io(py, move |backend| async move { backend.get_multi(&keys).await })?;
        Ok(stored.into_iter().map(|bytes| self.entry(bytes)).collect())
    }

    fn write(&self, py: Python<'_>, key: CacheKey, entry: Bytes) -> PyResult<()> {
        let stored = self.stored(entry);
        self.io(py, move |backend| async move { backend.set(&key, stored).await })
    }

    fn write_multi(&self, py: Python<'_>, items: Vec<(CacheKey, Bytes)>) -> PyResult<()> {
        let items: Vec<(CacheKey, Bytes)> = items.into_iter().map(|(key, entry)| (key, self.stored(entry))).collect();
        self.io(py, move |backend| async move { backend.set_multi(&items).await })
    }

    /// The entry in stored bytes: decompressed when compressed; bytes that do not decompress
    /// are no entry, as bytes that do not decode are.
    fn entry(&self, stored: Option<Bytes>) -> Option<Bytes> {
        let stored = stored?;
        if Compressor::compressed_with(&stored).is_none() {
            return Some(stored);
        }
        self.compressor.decompress(&stored).ok().map(|entry| Bytes::from(entry.into_owned()))
    }

    /// The bytes to store for `entry`: compressed as the arguments say (an entry not to
    /// compress is not copied).
    fn stored(&self, entry: Bytes) -> Bytes {
        if !self.compressor.compresses(entry.len()) {
            return entry;
        }
        Bytes::from(self.compressor.compress(entry.to_vec()))
    }
}

#[pymethods]
impl Backend {
    #[new]
    fn new(name: &str, arguments: &Bound<'_, PyDict>) -> PyResult<Self> {
        let Some(&(python, rust)) = NAMES.iter().find(|(python, _)| *python == name) else {
            let known: Vec<&str> = NAMES.iter().map(|(python, _)| *python).collect();
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown backend {name:?}; the backends are {}",
                known.join(", ")
            )));
        };
        let payload = Payload::from_name(
            arguments.get_item("serializer")?.map(|s| s.extract::<String>()).transpose()?.as_deref(),
        )?;
        let calling_thread = on_calling_thread(arguments)?;
        let arguments = to_arguments(arguments)?;
        let compressor = Compressor::from_arguments(&arguments).map_err(to_py)?;
        dogpile_redis::register();
        let _runtime = enter()?;
        let inner = dogpile::registry::make_backend(rust, &arguments).map_err(to_py)?;
        let distributed_lock = inner.capabilities().distributed_lock;
        let twins = calling_thread.then(|| Twins::new(rust, arguments));
        Ok(Backend { inner, twins, name: python, distributed_lock, payload, compressor })
    }

    /// The `CachedValue` at `key`, or `NO_VALUE` (also for bytes that do not decode).
    fn get_value<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Decoder::new(py, self.payload)?.decode(self.read(py, to_key(key)?)?.as_deref())
    }

    /// The `CachedValue` at each of `keys` (`NO_VALUE` where there is none), in one round
    /// trip.
    fn get_values<'py>(&self, py: Python<'py>, keys: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let found = self.read_multi(py, to_keys(keys)?)?;
        let mut decoder = Decoder::new(py, self.payload)?;
        found.iter().map(|bytes| decoder.decode(bytes.as_deref())).collect()
    }

    /// Stores the `CachedValue` `value` at `key`, as dogpile.cache 1.x writes it.
    fn set_value(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let (key, bytes) = (to_key(key)?, Encoder::new(py, self.payload)?.encode(value)?);
        self.write(py, key, bytes)
    }

    /// Stores each `key: CachedValue` of `mapping`, in one round trip.
    fn set_values(&self, py: Python<'_>, mapping: &Bound<'_, PyDict>) -> PyResult<()> {
        let mut encoder = Encoder::new(py, self.payload)?;
        let mut items = Vec::with_capacity(mapping.len());
        for (key, value) in mapping.iter() {
            items.push((to_key(&key)?, encoder.encode(&value)?));
        }
        self.write_multi(py, items)
    }

    /// The bytes at `key`, or `None`.
    fn get<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let found = self.read(py, to_key(key)?)?;
        Ok(found.map(|bytes| PyBytes::new(py, &bytes)))
    }

    /// The bytes at each of `keys` (`None` where there are none), in one round trip.
    fn get_multi<'py>(&self, py: Python<'py>, keys: &Bound<'py, PyAny>) -> PyResult<Vec<Option<Bound<'py, PyBytes>>>> {
        let found = self.read_multi(py, to_keys(keys)?)?;
        Ok(found.into_iter().map(|bytes| bytes.map(|bytes| PyBytes::new(py, &bytes))).collect())
    }

    /// Stores `value` at `key`, with the backend's TTL policy.
    fn set(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &[u8]) -> PyResult<()> {
        let (key, value) = (to_key(key)?, Bytes::copy_from_slice(value));
        self.write(py, key, value)
    }

    /// Stores each `key: value` of `mapping`, in one round trip.
    fn set_multi(&self, py: Python<'_>, mapping: &Bound<'_, PyDict>) -> PyResult<()> {
        let mut items = Vec::with_capacity(mapping.len());
        for (key, value) in mapping.iter() {
            items.push((to_key(&key)?, Bytes::copy_from_slice(value.extract::<&[u8]>()?)));
        }
        self.write_multi(py, items)
    }

    /// Deletes `key`.
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = to_key(key)?;
        self.io(py, move |backend| async move { backend.delete(&key).await })
    }

    /// Deletes each of `keys`, in one round trip.
    fn delete_multi(&self, py: Python<'_>, keys: &Bound<'_, PyAny>) -> PyResult<()> {
        let keys = to_keys(keys)?;
        self.io(py, move |backend| async move { backend.delete_multi(&keys).await })
    }

    /// The distributed lock of `key` (the token lock Rust processes take too), or `None`
    /// without `distributed_lock`.
    fn get_mutex(&self, key: &Bound<'_, PyAny>) -> PyResult<Option<Mutex>> {
        if !self.distributed_lock {
            return Ok(None);
        }
        let key = to_key(key)?;
        let _runtime = enter()?;
        Ok(self.inner.get_mutex(&key).map(|inner| Mutex::new(inner, key)))
    }

    /// A call into the I/O path that does nothing: what a call costs beyond its I/O.
    fn _call(&self, py: Python<'_>) -> PyResult<()> {
        self.io(py, |_| async { Ok(()) })
    }

    /// Whether the backend takes a distributed lock.
    #[getter]
    fn distributed_lock(&self) -> bool {
        self.distributed_lock
    }

    fn __repr__(&self) -> String {
        format!("<dogpile_rs backend {}>", self.name)
    }
}
