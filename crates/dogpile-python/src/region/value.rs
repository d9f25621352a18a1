//! A Python value in the Rust region: its pickle, which the region stores as the payload of a
//! dogpile.cache 1.x entry (`json(metadata)|pickle`, the bytes a dogpile.cache region writes),
//! and the object itself when this process made it.

use std::fmt;
use std::sync::Arc;

use dogpile::BoxError;
use dogpile::codec::{Codec, Envelope, Format, PayloadCodec, PayloadSink};
use dogpile::erased_serde;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use serde::de::value::{BytesDeserializer, Error as ValueError};
use serde::ser::{Error as _, Impossible};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value as the region holds it.
#[derive(Clone)]
pub(crate) struct PyValue {
    /// `pickle.dumps(value)`.
    pub(crate) pickled: Vec<u8>,
    /// The object, when a creator of this process made it: returned as is, as dogpile returns
    /// what its creator returned.
    pub(crate) object: Option<Arc<Py<PyAny>>>,
    /// What `should_cache_fn` said of it (true without one).
    pub(crate) cache: bool,
}

/// `pickle.dumps` and `pickle.loads`, looked up once.
fn pickle(py: Python<'_>) -> PyResult<&'static (Py<PyAny>, Py<PyAny>)> {
    static PICKLE: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();
    PICKLE.get_or_try_init(py, || {
        let pickle = py.import("pickle")?;
        Ok((pickle.getattr("dumps")?.unbind(), pickle.getattr("loads")?.unbind()))
    })
}

impl PyValue {
    /// The value of `object`, pickled.
    pub(crate) fn of(py: Python<'_>, object: Bound<'_, PyAny>, cache: bool) -> PyResult<Self> {
        let pickled = pickle(py)?.0.bind(py).call1((&object,))?;
        Ok(PyValue { pickled: pickled.extract()?, object: Some(Arc::new(object.unbind())), cache })
    }

    /// The Python object: the one made here, else the pickle's.
    pub(crate) fn into_object(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.object {
            Some(object) => Ok(object.clone_ref(py)),
            None => {
                let bytes = pyo3::types::PyBytes::new(py, &self.pickled);
                Ok(pickle(py)?.1.bind(py).call1((bytes,))?.unbind())
            }
        }
    }
}

impl fmt::Debug for PyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PyValue").field("pickled", &self.pickled.len()).finish_non_exhaustive()
    }
}

impl Serialize for PyValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.pickled)
    }
}

impl<'de> Deserialize<'de> for PyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl serde::de::Visitor<'_> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a pickle")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        let pickled = deserializer.deserialize_byte_buf(Bytes)?;
        Ok(PyValue { pickled, object: None, cache: true })
    }
}

/// The codec of a Python region: dogpile.cache 1.x's envelope around the pickle, as is.
pub(crate) fn codec() -> Codec {
    Codec::new(Format::custom(Pickled), Envelope::Dogpile1)
}

/// The payload format that writes a [`PyValue`]'s pickle and reads it back, untouched.
#[derive(Debug)]
struct Pickled;

impl PayloadCodec for Pickled {
    fn name(&self) -> &str {
        "pickle (CPython's)"
    }

    fn serialize(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, BoxError> {
        Ok(erased_serde::serialize(value, Capture)?)
    }

    fn deserialize(&self, bytes: &[u8], mut sink: PayloadSink<'_>) -> Result<(), BoxError> {
        sink.accept(BytesDeserializer::<ValueError>::new(bytes))
    }
}

/// A serializer that takes bytes, and nothing else.
struct Capture;

fn refused() -> ValueError {
    ValueError::custom("a Python region stores pickles only")
}

macro_rules! refuse {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {$(
        fn $method(self, $(_: $arg),*) -> Result<Vec<u8>, ValueError> {
            Err(refused())
        }
    )*};
}

impl Serializer for Capture {
    type Ok = Vec<u8>;
    type Error = ValueError;
    type SerializeSeq = Impossible<Vec<u8>, ValueError>;
    type SerializeTuple = Impossible<Vec<u8>, ValueError>;
    type SerializeTupleStruct = Impossible<Vec<u8>, ValueError>;
    type SerializeTupleVariant = Impossible<Vec<u8>, ValueError>;
    type SerializeMap = Impossible<Vec<u8>, ValueError>;
    type SerializeStruct = Impossible<Vec<u8>, ValueError>;
    type SerializeStructVariant = Impossible<Vec<u8>, ValueError>;

    fn serialize_bytes(self, v: &[u8]) -> Result<Vec<u8>, ValueError> {
        Ok(v.to_vec())
    }

    refuse! {
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_u8(u8), serialize_u16(u16), serialize_u32(u32),
        serialize_u64(u64), serialize_f32(f32), serialize_f64(f64), serialize_char(char),
        serialize_str(&str), serialize_none(), serialize_unit(), serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Vec<u8>, ValueError> {
        Err(refused())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<Vec<u8>, ValueError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Vec<u8>, ValueError> {
        Err(refused())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, ValueError> {
        Err(refused())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, ValueError> {
        Err(refused())
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, ValueError> {
        Err(refused())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, ValueError> {
        Err(refused())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, ValueError> {
        Err(refused())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, ValueError> {
        Err(refused())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, ValueError> {
        Err(refused())
    }
}
