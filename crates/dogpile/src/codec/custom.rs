//! User-supplied payload formats.

use std::fmt;

use crate::error::BoxError;

type Visit<'a> = dyn for<'de> FnMut(&mut dyn erased_serde::Deserializer<'de>) -> Result<(), erased_serde::Error> + 'a;

/// A payload format of your own (the seed's user `loads`/`dumps`), used through
/// [`Format::custom`](super::Format::custom).
///
/// The region hands the codec a type-erased serde value: in array envelopes that is the whole
/// `[payload, metadata]` entry, so the codec sees exactly what it must write. Any serde format
/// works; compression or a version prefix can wrap it.
///
/// # Examples
///
/// JSON behind a version prefix, used in the compact envelope:
///
/// ```
/// use dogpile::codec::{Codec, Envelope, Format, PayloadCodec, PayloadSink};
/// use dogpile::erased_serde;
/// use dogpile::BoxError;
///
/// #[derive(Debug)]
/// struct PrefixedJson;
///
/// impl PayloadCodec for PrefixedJson {
///     fn name(&self) -> &str {
///         "prefixed-json"
///     }
///
///     fn serialize(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, BoxError> {
///         let mut out = b"v1:".to_vec();
///         serde_json::to_writer(&mut out, value)?;
///         Ok(out)
///     }
///
///     fn deserialize(&self, bytes: &[u8], mut sink: PayloadSink<'_>) -> Result<(), BoxError> {
///         let body = bytes.strip_prefix(b"v1:").ok_or("missing v1: prefix")?;
///         sink.accept(&mut serde_json::Deserializer::from_slice(body))
///     }
/// }
///
/// let codec = Codec::new(Format::custom(PrefixedJson), Envelope::Compact);
/// let bytes = codec.encode(&"hello", 1_700_000_000.0)?;
/// assert_eq!(bytes, br#"v1:["hello",1700000000]"#);
/// assert_eq!(codec.decode::<String>(&bytes, 0.0)?.payload, "hello");
/// # Ok::<(), BoxError>(())
/// ```
pub trait PayloadCodec: Send + Sync + fmt::Debug + 'static {
    /// A short name, for `Debug` output and error messages.
    fn name(&self) -> &str;

    /// Serializes `value` to bytes.
    ///
    /// # Errors
    ///
    /// Whatever the format reports for a value it cannot represent.
    fn serialize(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, BoxError>;

    /// Deserializes `bytes` by handing a serde deserializer over them to `sink`.
    ///
    /// # Errors
    ///
    /// The format's error, or the one [`PayloadSink::accept`] returns.
    fn deserialize(&self, bytes: &[u8], sink: PayloadSink<'_>) -> Result<(), BoxError>;
}

/// Receives the deserializer a [`PayloadCodec`] builds over stored bytes.
pub struct PayloadSink<'a> {
    visit: &'a mut Visit<'a>,
}

impl<'a> PayloadSink<'a> {
    pub(crate) fn new(visit: &'a mut Visit<'a>) -> Self {
        PayloadSink { visit }
    }

    /// Reads the value out of `deserializer`.
    ///
    /// # Errors
    ///
    /// The deserializer's error when the bytes do not hold a value of the expected type.
    pub fn accept<'de, D: serde::Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), BoxError> {
        let mut erased = <dyn erased_serde::Deserializer<'de>>::erase(deserializer);
        (self.visit)(&mut erased).map_err(Into::into)
    }
}

impl fmt::Debug for PayloadSink<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayloadSink").finish_non_exhaustive()
    }
}
