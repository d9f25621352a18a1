//! Codecs: how a value and its metadata become bytes, and back (the seed's `loads`/`dumps`).
//!
//! A [`Codec`] is a payload [`Format`] (msgpack, JSON or your own [`PayloadCodec`]) inside an
//! [`Envelope`] (the layout that carries the metadata):
//!
//! | envelope | bytes | shared with |
//! |---|---|---|
//! | [`Envelope::Dogpile1`] | `{"ct": 1700000000.5, "v": 2}` `\|` payload | Python dogpile.cache 1.x |
//! | [`Envelope::Seed`] | `[payload, {"ct": .., "v": ..}]` in the payload format | `dogpile_backend_redis_advanced` with msgpack |
//! | [`Envelope::Compact`] | `[payload, ct as integer seconds]` | smaller entries |
//! | [`Envelope::Raw`] | payload only; read back with `ct` = now | expiry left to the store's TTL |
//!
//! # Examples
//!
//! ```
//! use dogpile::codec::{Codec, Envelope, Format};
//!
//! let codec = Codec::new(Format::Json, Envelope::Dogpile1);
//! let bytes = codec.encode(&vec![1, 2], 1_700_000_000.5)?;
//! assert_eq!(bytes, br#"{"ct": 1700000000.5, "v": 2}|[1,2]"#);
//! let back = codec.decode::<Vec<u32>>(&bytes, 0.0)?;
//! assert_eq!(back.payload, vec![1, 2]);
//! # Ok::<(), dogpile::BoxError>(())
//! ```

mod custom;
mod envelope;
mod format;

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use custom::{PayloadCodec, PayloadSink};
pub use envelope::Envelope;
pub use format::Format;

use crate::error::{BoxError, Error, Result};
use crate::value::CachedValue;

/// A payload format inside an envelope. Cheap to clone.
#[derive(Clone, PartialEq)]
pub struct Codec {
    format: Format,
    envelope: Envelope,
}

impl Codec {
    /// A codec of `format` inside `envelope`.
    pub fn new(format: Format, envelope: Envelope) -> Self {
        Codec { format, envelope }
    }

    /// The payload format.
    pub fn format(&self) -> &Format {
        &self.format
    }

    /// The envelope.
    pub fn envelope(&self) -> Envelope {
        self.envelope
    }

    /// Looks a codec up by the names used in configuration: `serializer` is `msgpack` or
    /// `json`, `envelope` is `dogpile1`, `seed`, `compact` or `raw`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the setting when a name is unknown or its feature is off.
    pub fn from_names(serializer: Option<&str>, envelope: Option<&str>) -> Result<Self> {
        let default = Codec::default();
        let format = match serializer {
            None => default.format,
            Some(name) => Format::from_name(name)?,
        };
        let envelope = match envelope {
            None => default.envelope,
            Some(name) => Envelope::from_name(name)?,
        };
        Ok(Codec { format, envelope })
    }

    /// Encodes `payload` created at `ct` (seconds since the epoch).
    ///
    /// # Errors
    ///
    /// The serializer's error, when the payload cannot be represented in the format.
    pub fn encode<T: Serialize>(&self, payload: &T, ct: f64) -> Result<Vec<u8>, BoxError> {
        self.envelope.encode(&self.format, payload, ct)
    }

    /// Decodes bytes written by [`Codec::encode`] (or by a Python process with the same
    /// layout); `now` is the creation time given to [`Envelope::Raw`] entries.
    ///
    /// # Errors
    ///
    /// The deserializer's error, for bytes that are not a value of this layout and type.
    pub fn decode<T: DeserializeOwned>(&self, bytes: &[u8], now: f64) -> Result<CachedValue<T>, BoxError> {
        self.envelope.decode(&self.format, bytes, now)
    }

    pub(crate) fn encode_for<T: Serialize>(&self, key: &crate::CacheKey, payload: &T, ct: f64) -> Result<Vec<u8>> {
        self.encode(payload, ct).map_err(|source| Error::Codec { key: Some(key.clone()), source })
    }
}

impl Default for Codec {
    /// msgpack in the seed's envelope when the `msgpack` feature is on, JSON otherwise.
    fn default() -> Self {
        Codec { format: Format::default(), envelope: Envelope::Seed }
    }
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Codec { format, envelope } = self;
        f.debug_struct("Codec").field("format", format).field("envelope", envelope).finish()
    }
}

/// What the region does with stored bytes that do not decode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorPolicy {
    /// Treat the entry as missing, so it gets regenerated (dogpile's `CantDeserializeException`).
    #[default]
    Miss,
    /// Return [`Error::Codec`] to the caller.
    Error,
}
