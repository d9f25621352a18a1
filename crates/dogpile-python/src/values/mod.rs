//! Native values: dogpile.cache's `CachedValue`s in and out of the backend, with the envelope
//! (`json(metadata)|payload`, the bytes dogpile.cache 1.x writes) made and read here instead of
//! in the region's Python code.
//!
//! The metadata dictionary dogpile writes (`{"ct": <float>, "v": <int>}`) is formatted and
//! parsed here, byte for byte as `json.dumps` / `json.loads` do it ([`json`]). The payload is
//! pickled by CPython's own pickler (the C `_pickle` behind `pickle.dumps`, as dogpile calls
//! it), or, when the backend's `serializer` argument says so, written and read as JSON
//! ([`json`]) or msgpack ([`msgpack`]) natively, with Python's `json` or the `msgpack` package
//! for the values those do not take. What does not decode is `NO_VALUE`, never an error: the
//! region then regenerates it.

mod json;
mod msgpack;

use dogpile::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

/// How payloads are written: the backend's `serializer` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload {
    /// `pickle.dumps` / `pickle.loads` (dogpile's default).
    Pickle,
    /// `json.dumps(value).encode()` / `json.loads`.
    Json,
    /// `msgpack.packb` / `msgpack.unpackb` (the `msgpack` package must be installed).
    Msgpack,
}

impl Payload {
    /// The payload named by the `serializer` argument (pickle when there is none).
    pub(crate) fn from_name(name: Option<&str>) -> PyResult<Self> {
        match name {
            None | Some("pickle") => Ok(Payload::Pickle),
            Some("json") => Ok(Payload::Json),
            Some("msgpack") => Ok(Payload::Msgpack),
            Some(other) => Err(PyValueError::new_err(format!(
                "unknown serializer {other:?}: \"pickle\" (the default), \"json\" or \"msgpack\"; \
                 for another one, give the region a serializer and deserializer"
            ))),
        }
    }
}

/// Runs `write` on `out`; when it declines (`None`: Python must write the value), cuts `out`
/// back to where it was.
fn written(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>) -> Option<()>) -> bool {
    let start = out.len();
    let done = write(out).is_some();
    if !done {
        out.truncate(start);
    }
    done
}

/// The Python objects the conversions call, looked up once per interpreter.
struct Refs {
    cached_value: Py<PyAny>,
    /// `tuple.__new__` when `CachedValue` is dogpile 1.x's `NamedTuple` of `payload` and
    /// `metadata`, whose `__new__` does just that: the value is made without a Python frame.
    tuple_new: Option<Py<PyAny>>,
    no_value: Py<PyAny>,
    json_dumps: Py<PyAny>,
    json_loads: Py<PyAny>,
    pickle_dumps: Py<PyAny>,
    pickle_loads: Py<PyAny>,
    msgpack: PyOnceLock<(Py<PyAny>, Py<PyAny>)>,
}

static REFS: PyOnceLock<Refs> = PyOnceLock::new();

fn refs(py: Python<'_>) -> PyResult<&Refs> {
    REFS.get_or_try_init(py, || {
        let api = py.import("dogpile.cache.api")?;
        let (json, pickle) = (py.import("json")?, py.import("pickle")?);
        let cached_value = api.getattr("CachedValue")?;
        let named_tuple = cached_value.getattr("_fields").is_ok_and(|f| f.eq(("payload", "metadata")).unwrap_or(false))
            && cached_value.cast::<pyo3::types::PyType>().is_ok_and(|t| t.is_subclass_of::<PyTuple>().unwrap_or(false));
        let tuple_new = if named_tuple { Some(py.get_type::<PyTuple>().getattr("__new__")?.unbind()) } else { None };
        Ok(Refs {
            cached_value: cached_value.unbind(),
            tuple_new,
            no_value: api.getattr("NO_VALUE")?.unbind(),
            json_dumps: json.getattr("dumps")?.unbind(),
            json_loads: json.getattr("loads")?.unbind(),
            pickle_dumps: pickle.getattr("dumps")?.unbind(),
            pickle_loads: pickle.getattr("loads")?.unbind(),
            msgpack: PyOnceLock::new(),
        })
    })
}

impl Refs {
    /// `CachedValue(value, metadata)`.
    fn cached_value<'py>(
        &self,
        py: Python<'py>,
        value: Bound<'py, PyAny>,
        metadata: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let class = self.cached_value.bind(py);
        match &self.tuple_new {
            Some(new) => new.bind(py).call1((class, PyTuple::new(py, [value, metadata])?)),
            None => class.call1((value, metadata)),
        }
    }

    fn msgpack(&self, py: Python<'_>) -> PyResult<&(Py<PyAny>, Py<PyAny>)> {
        self.msgpack.get_or_try_init(py, || {
            let msgpack = py.import("msgpack").map_err(|e| {
                PyValueError::new_err(format!(
                    "serializer \"msgpack\" needs the msgpack package (pip install msgpack): {e}"
                ))
            })?;
            Ok((msgpack.getattr("packb")?.unbind(), msgpack.getattr("unpackb")?.unbind()))
        })
    }
}

/// Reads entries into `CachedValue`s, parsing each distinct metadata text once (the entries
/// one `set_multi` wrote share theirs) and sharing its dictionary, as dogpile's `set_multi`
/// shares one among the values it writes.
pub(crate) struct Decoder<'py> {
    py: Python<'py>,
    refs: &'py Refs,
    payload: Payload,
    last: Option<(Vec<u8>, Bound<'py, PyAny>)>,
}

impl<'py> Decoder<'py> {
    pub(crate) fn new(py: Python<'py>, payload: Payload) -> PyResult<Self> {
        Ok(Decoder { py, refs: refs(py)?, payload, last: None })
    }

    /// The `CachedValue` in `bytes`, or `NO_VALUE` when there are none or they are not a whole
    /// entry of this payload format.
    pub(crate) fn decode(&mut self, bytes: Option<&[u8]>) -> PyResult<Bound<'py, PyAny>> {
        let (py, refs) = (self.py, self.refs);
        let no_value = || Ok(refs.no_value.bind(py).clone());
        let Some((meta, body)) =
            bytes.and_then(|b| b.iter().position(|&c| c == b'|').map(|bar| (&b[..bar], &b[bar + 1..])))
        else {
            return no_value();
        };
        let Some(metadata) = self.metadata(meta)? else { return no_value() };
        let native = match self.payload {
            Payload::Pickle => None,
            Payload::Json => json::loads(py, body)?,
            Payload::Msgpack => msgpack::unpackb(py, body)?,
        };
        let loaded = match (native, self.payload) {
            (Some(value), _) => Ok(value),
            (None, Payload::Pickle) => refs.pickle_loads.bind(py).call1((PyBytes::new(py, body),)),
            (None, Payload::Json) => refs.json_loads.bind(py).call1((PyBytes::new(py, body),)),
            (None, Payload::Msgpack) => refs.msgpack(py)?.1.bind(py).call1((PyBytes::new(py, body),)),
        };
        match loaded {
            Ok(value) => refs.cached_value(py, value, metadata),
            Err(_) => no_value(),
        }
    }

    /// The metadata dictionary of `text`, the last one's when the text is the same; `None`
    /// when it is not a JSON object.
    fn metadata(&mut self, text: &[u8]) -> PyResult<Option<Bound<'py, PyAny>>> {
        if let Some((last, dict)) = &self.last
            && last.as_slice() == text
        {
            return Ok(Some(dict.clone()));
        }
        let parsed = match json::loads(self.py, text)? {
            Some(metadata) => Ok(metadata),
            None => self.refs.json_loads.bind(self.py).call1((PyBytes::new(self.py, text),)),
        };
        match parsed {
            Ok(dict) if dict.is_instance_of::<PyDict>() => {
                self.last = Some((text.to_vec(), dict.clone()));
                Ok(Some(dict))
            }
            _ => Ok(None),
        }
    }
}

/// Writes entries, formatting each distinct metadata dictionary once (dogpile's `set_multi`
/// shares one among all its values).
pub(crate) struct Encoder<'py> {
    py: Python<'py>,
    refs: &'py Refs,
    payload: Payload,
    last: Option<(Bound<'py, PyAny>, Vec<u8>)>,
}

impl<'py> Encoder<'py> {
    pub(crate) fn new(py: Python<'py>, payload: Payload) -> PyResult<Self> {
        Ok(Encoder { py, refs: refs(py)?, payload, last: None })
    }

    /// The entry of `value`, a `CachedValue` (or any `(payload, metadata)` pair).
    pub(crate) fn encode(&mut self, value: &Bound<'py, PyAny>) -> PyResult<Bytes> {
        let pair = value.cast::<PyTuple>().ok().filter(|t| t.len() == 2).ok_or_else(|| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "a CachedValue (payload, metadata) is expected, got {}",
                value.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ))
        })?;
        let (payload, metadata) = (pair.get_item(0)?, pair.get_item(1)?);
        self.remember_metadata(metadata)?;
        let meta = self.last.as_ref().map(|(_, json)| json.as_slice()).unwrap_or_default();
        let mut out = Vec::with_capacity(meta.len() + 64);
        out.extend_from_slice(meta);
        out.push(b'|');
        self.append_body(&payload, &mut out)?;
        Ok(Bytes::from(out))
    }

    /// Appends the payload of `value` to `out`, as the configured serializer writes it.
    fn append_body(&self, value: &Bound<'py, PyAny>, out: &mut Vec<u8>) -> PyResult<()> {
        let py = self.py;
        let written = match self.payload {
            Payload::Json if json::dumps(value, out) => return Ok(()),
            Payload::Msgpack if msgpack::packb(value, out) => return Ok(()),
            Payload::Pickle => self.refs.pickle_dumps.bind(py).call1((value,))?,
            Payload::Msgpack => self.refs.msgpack(py)?.0.bind(py).call1((value,))?,
            Payload::Json => {
                let text = self.refs.json_dumps.bind(py).call1((value,))?;
                out.extend_from_slice(text.cast::<PyString>()?.to_cow()?.as_bytes());
                return Ok(());
            }
        };
        out.extend_from_slice(written.cast::<PyBytes>()?.as_bytes());
        Ok(())
    }

    /// Formats the metadata's JSON, unless it is the dictionary of the last call.
    fn remember_metadata(&mut self, metadata: Bound<'py, PyAny>) -> PyResult<()> {
        let same = self.last.as_ref().is_some_and(|(last, _)| last.is(&metadata));
        if !same {
            let mut text = Vec::with_capacity(32);
            if !json::dumps(&metadata, &mut text) {
                let shown = self.refs.json_dumps.bind(self.py).call1((&metadata,))?;
                // json.dumps escapes every non-ASCII character: the text is ASCII.
                text.extend_from_slice(shown.cast::<PyString>()?.to_cow()?.as_bytes());
            }
            self.last = Some((metadata, text));
        }
        Ok(())
    }
}
