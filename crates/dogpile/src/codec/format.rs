//! Payload formats.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::custom::PayloadCodec;
use crate::error::{BoxError, Error, Result};

/// How the payload (and, in array envelopes, the whole entry) is serialized.
///
/// The default is msgpack, or JSON when the `msgpack` feature is off.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Format {
    /// MessagePack, with structs as maps (what Python's `msgpack.packb` of a dict gives).
    #[cfg(feature = "msgpack")]
    #[default]
    Msgpack,
    /// JSON.
    #[cfg(feature = "json")]
    #[cfg_attr(not(feature = "msgpack"), default)]
    Json,
    /// A user-supplied format.
    Custom(Arc<dyn PayloadCodec>),
}

#[cfg(not(any(feature = "msgpack", feature = "json")))]
compile_error!("dogpile needs at least one of the features `msgpack` and `json` for its default codec");

impl Format {
    /// A user-supplied format.
    pub fn custom(codec: impl PayloadCodec) -> Self {
        Format::Custom(Arc::new(codec))
    }

    /// The format's name: `msgpack`, `json`, or the custom codec's name.
    pub fn name(&self) -> &str {
        match self {
            #[cfg(feature = "msgpack")]
            Format::Msgpack => "msgpack",
            #[cfg(feature = "json")]
            Format::Json => "json",
            Format::Custom(codec) => codec.name(),
        }
    }

    pub(crate) fn from_name(name: &str) -> Result<Self> {
        match name {
            #[cfg(feature = "msgpack")]
            "msgpack" => Ok(Format::Msgpack),
            #[cfg(feature = "json")]
            "json" => Ok(Format::Json),
            other => Err(Error::config(
                "serializer",
                format!(
                    "unknown serializer {other:?}; expected \"msgpack\" or \"json\" (with the crate feature of that name)"
                ),
            )),
        }
    }

    pub(crate) fn serialize_value<S: Serialize>(&self, value: &S) -> Result<Vec<u8>, BoxError> {
        match self {
            #[cfg(feature = "msgpack")]
            Format::Msgpack => Ok(rmp_serde::to_vec_named(value)?),
            #[cfg(feature = "json")]
            Format::Json => Ok(serde_json::to_vec(value)?),
            Format::Custom(codec) => codec.serialize(value),
        }
    }

    pub(crate) fn deserialize_value<D: DeserializeOwned>(&self, bytes: &[u8]) -> Result<D, BoxError> {
        match self {
            #[cfg(feature = "msgpack")]
            Format::Msgpack => Ok(rmp_serde::from_slice(bytes)?),
            #[cfg(feature = "json")]
            Format::Json => Ok(serde_json::from_slice(bytes)?),
            Format::Custom(codec) => {
                let mut out = None;
                let mut visit = |de: &mut dyn erased_serde::Deserializer<'_>| {
                    out = Some(erased_serde::deserialize::<D>(de)?);
                    Ok(())
                };
                codec.deserialize(bytes, super::custom::PayloadSink::new(&mut visit))?;
                out.ok_or_else(|| format!("custom codec `{}` did not call PayloadSink::accept", codec.name()).into())
            }
        }
    }
}

impl PartialEq for Format {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Format::Custom(a), Format::Custom(b)) => Arc::ptr_eq(a, b),
            (Format::Custom(_), _) | (_, Format::Custom(_)) => false,
            _ => self.name() == other.name(),
        }
    }
}

impl fmt::Debug for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Custom(codec) => write!(f, "Custom({:?})", codec.name()),
            other => f.write_str(other.name()),
        }
    }
}
