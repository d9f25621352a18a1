//! Codecs: how a value and its metadata become bytes, and back (the seed's `loads`/`dumps`).
//!
//! A [`Codec`] is a payload [`Format`] (msgpack, JSON, pickle, the plugin 0.5.0's raw proxy
//! format, or your own [`PayloadCodec`]) inside an [`Envelope`] (the layout that carries the
//! metadata), with the value version the deployment writes. A [`Compat`] profile names the
//! codec (and lock names) of a Python deployment to share entries with.
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

mod compat;
mod compression;
mod custom;
mod detect;
mod envelope;
mod format;
mod guard;
mod pickle;
mod raw_proxy;
mod value;

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use compat::Compat;
pub use compression::{Compression, Compressor};
pub use custom::{PayloadCodec, PayloadSink};
pub use detect::{Layout, detect, known_layouts};
pub use envelope::Envelope;
pub use format::Format;
pub use value::Value;

use crate::config::Arguments;
use crate::error::{BoxError, Error, Result};
use crate::value::{CachedValue, Metadata, VALUE_VERSION};

/// A payload format inside an envelope, with the value version it writes and accepts. Cheap to
/// clone.
#[derive(Clone, PartialEq)]
pub struct Codec {
    format: Format,
    envelope: Envelope,
    value_version: u32,
    compressor: Compressor,
}

impl Codec {
    /// A codec of `format` inside `envelope`, at value version [`VALUE_VERSION`] (dogpile 1.x).
    pub fn new(format: Format, envelope: Envelope) -> Self {
        Codec { format, envelope, value_version: VALUE_VERSION, compressor: Compressor::default() }
    }

    /// Compresses what this codec writes as `compressor` says; compressed entries are read
    /// whatever the compressor, so that a region can turn compression on (or off) without a
    /// flush. Entries are compressed whole (envelope and payload), behind a header that no
    /// uncompressed layout starts with: Python's dogpile.cache and the plugin cannot read them,
    /// only dogpile-rs (Rust and the `dogpile_rs` wheel).
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::codec::{Codec, Compression, Compressor, Envelope, Format};
    ///
    /// let plain = Codec::new(Format::Json, Envelope::Dogpile1);
    /// let compressing = plain.clone().with_compressor(Compressor::new(Some(Compression::Lz4)).compress_above(64));
    /// let document = vec!["the same words, over and over"; 100];
    /// let stored = compressing.encode(&document, 1_700_000_000.0)?;
    /// assert!(stored.len() < plain.encode(&document, 1_700_000_000.0)?.len() / 4);
    /// // Read by a codec that does not compress, as by the one that does.
    /// assert_eq!(plain.decode::<Vec<String>>(&stored, 0.0)?.payload.len(), 100);
    /// # Ok::<(), dogpile::BoxError>(())
    /// ```
    #[must_use]
    pub fn with_compressor(mut self, compressor: Compressor) -> Self {
        self.compressor = compressor;
        self
    }

    /// How this codec compresses.
    pub fn compressor(&self) -> &Compressor {
        &self.compressor
    }

    /// The value version written into entries and required of entries read (dogpile's
    /// `value_version`: 1 for dogpile 0.9.x, 2 for dogpile 1.x); entries of another version are
    /// misses, as in dogpile.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::codec::{Codec, Envelope, Format};
    ///
    /// // What plugin 0.4.x on dogpile 0.9.x writes with its README's msgpack loads/dumps.
    /// let codec = Codec::new(Format::Msgpack, Envelope::Seed).with_value_version(1);
    /// let bytes = codec.encode(&"x", 1_700_000_000.0)?;
    /// assert_eq!(codec.decode::<String>(&bytes, 0.0)?.metadata.v, 1);
    /// # Ok::<(), dogpile::BoxError>(())
    /// ```
    #[must_use]
    pub fn with_value_version(mut self, version: u32) -> Self {
        self.value_version = version;
        self
    }

    /// The value version.
    pub fn value_version(&self) -> u32 {
        self.value_version
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
        let mut args = Arguments::new();
        for (key, name) in [("serializer", serializer), ("envelope", envelope)] {
            if let Some(name) = name {
                args.insert(key, name);
            }
        }
        Codec::from_arguments(&args)
    }

    /// The codec that configuration arguments name: `compat` picks a deployment's defaults
    /// ([`Compat`]), and `serializer`, `envelope` and `value_version` override them one by one;
    /// `compression`, `compress_above` and `max_decompressed_size` set the
    /// [compressor](Compressor::from_arguments).
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::codec::{Codec, Envelope, Format};
    /// use dogpile::config::Arguments;
    ///
    /// let args = Arguments::new().with("compat", "seed-0.4").with("serializer", "msgpack");
    /// let codec = Codec::from_arguments(&args)?;
    /// assert_eq!((codec.format(), codec.envelope(), codec.value_version()), (&Format::Msgpack, Envelope::Seed, 1));
    /// # Ok::<(), dogpile::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the argument whose value is unknown or of the wrong type.
    pub fn from_arguments(args: &Arguments) -> Result<Self> {
        let base = match args.get_str("compat")? {
            Some(name) => Compat::from_name(name)?.codec(),
            None => Codec::default(),
        };
        let format = match args.get_str("serializer")? {
            Some(name) => Format::from_name(name)?,
            None => base.format,
        };
        let envelope = match args.get_str("envelope")? {
            Some(name) => Envelope::from_name(name)?,
            None => base.envelope,
        };
        let value_version = match args.get_u64("value_version")? {
            Some(v) => u32::try_from(v).map_err(|_| Error::config("value_version", "expected 1 or 2"))?,
            None => base.value_version,
        };
        let compressor = Compressor::from_arguments(args)?;
        Ok(Codec { format, envelope, value_version, compressor })
    }

    /// Encodes `payload` created at `ct` (seconds since the epoch).
    ///
    /// # Errors
    ///
    /// The serializer's error, when the payload cannot be represented in the format.
    pub fn encode<T: Serialize>(&self, payload: &T, ct: f64) -> Result<Vec<u8>, BoxError> {
        let entry = self.envelope.encode(&self.format, payload, Metadata::with_version(ct, self.value_version))?;
        Ok(self.compressor.compress(entry))
    }

    /// [`Codec::encode`] with how long the value took to create (the `"d"` metadata key of
    /// [early refresh](crate::region::EarlyRefresh)), kept by the dogpile 1.x and seed
    /// envelopes and dropped by the others.
    ///
    /// # Errors
    ///
    /// As [`Codec::encode`].
    pub fn encode_created<T: Serialize>(&self, payload: &T, ct: f64, took: f64) -> Result<Vec<u8>, BoxError> {
        let mut metadata = Metadata::with_version(ct, self.value_version);
        metadata.d = Some(took);
        Ok(self.compressor.compress(self.envelope.encode(&self.format, payload, metadata)?))
    }

    /// Decodes bytes written by [`Codec::encode`] (or by a Python process with the same
    /// layout); `now` is the creation time given to [`Envelope::Raw`] entries. The payload must
    /// take up the bytes whole. The metadata's version is returned as stored: the region, not
    /// the codec, turns another version into a miss.
    ///
    /// # Errors
    ///
    /// The deserializer's error, for bytes that are not a value of this layout and type; an
    /// error for which [`Codec::is_no_value`] holds for the raw proxy format's `NO_VALUE`
    /// marker.
    pub fn decode<T: DeserializeOwned>(&self, bytes: &[u8], now: f64) -> Result<CachedValue<T>, BoxError> {
        let entry = self.compressor.decompress(bytes)?;
        self.envelope.decode(&self.format, &entry, now, self.value_version)
    }

    /// True for the decode errors that stand for "no value": the plugin 0.5.0 raw proxy
    /// format's `@\x7fNO_VALUE`, and an entry whose value version is no version this crate
    /// can write (a negative number, say): a miss, not undecodable bytes.
    pub fn is_no_value(error: &BoxError) -> bool {
        error.is::<NoValueMarker>() || error.is::<ForeignVersion>()
    }

    /// [`Codec::encode`] for the value at `key`, with the creation duration, when known, and the
    /// value's tags.
    pub(crate) fn encode_created_for<T: Serialize>(
        &self,
        key: &crate::CacheKey,
        payload: &T,
        ct: f64,
        took: Option<f64>,
        tags: &[String],
    ) -> Result<Vec<u8>> {
        let codec_error = |source: BoxError| Error::Codec { key: Some(key.clone()), source };
        if !tags.is_empty() && !self.envelope.keeps_metadata() {
            let envelope = self.envelope.name();
            return Err(codec_error(
                format!("tags need an envelope that keeps metadata (dogpile1 or seed), not {envelope}").into(),
            ));
        }
        let mut metadata = Metadata::with_version(ct, self.value_version);
        metadata.d = took;
        metadata.tags = tags.to_vec();
        let entry = self.envelope.encode(&self.format, payload, metadata).map_err(codec_error)?;
        Ok(self.compressor.compress(entry))
    }
}

impl Default for Codec {
    /// msgpack in the seed's envelope when the `msgpack` feature is on, JSON otherwise, at
    /// value version 2.
    fn default() -> Self {
        Codec::new(Format::default(), Envelope::Seed)
    }
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Codec { format, envelope, value_version, compressor } = self;
        f.debug_struct("Codec")
            .field("format", format)
            .field("envelope", envelope)
            .field("value_version", value_version)
            .field("compressor", compressor)
            .finish()
    }
}

/// The stored "no value" marker of the raw proxy format, read as a miss.
#[derive(Debug)]
pub(crate) struct NoValueMarker;

impl fmt::Display for NoValueMarker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the entry holds the NO_VALUE marker")
    }
}

impl std::error::Error for NoValueMarker {}

/// An entry's value version that no codec of this crate writes (outside `u32`): dogpile reads
/// such an entry as another version's, a miss.
#[derive(Debug)]
pub(crate) struct ForeignVersion(pub(crate) i64);

impl fmt::Display for ForeignVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the entry has value version {}, which this codec does not read", self.0)
    }
}

impl std::error::Error for ForeignVersion {}

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
