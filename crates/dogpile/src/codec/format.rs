//! Payload formats.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::custom::PayloadCodec;
use super::guard::{self, Guarded};
use super::{pickle, raw_proxy};
use crate::error::{BoxError, Error, Result};

/// How the payload (and, in the seed envelope, the whole entry) is serialized.
///
/// The default is msgpack, or JSON when the `msgpack` feature is off.
///
/// | format | config name | Python counterpart |
/// |---|---|---|
/// | [`Format::Msgpack`] | `msgpack` | `msgpack.packb` / `msgpack.unpackb` |
/// | [`Format::Json`] | `json` | `json.dumps` / `json.loads` |
/// | [`Format::Pickle`] | `pickle` | `pickle.dumps` / `pickle.loads`, plain data only (see below) |
/// | [`Format::RawProxy`] | `raw_proxy` | plugin 0.5.0's `Serializer_Raw_ProxyBackend` |
///
/// Every format reads a stored payload whole: bytes left over after the value make the entry
/// undecodable (a miss or an error, per the region's
/// [`DecodeErrorPolicy`](super::DecodeErrorPolicy)), never a value read from a prefix.
///
/// What each format cannot hold is refused when writing, where the other side would read
/// another value: bytes and NaN in JSON, integers beyond 64 bits in msgpack, and the types the
/// raw proxy format has no tag for. Store byte strings as [`Bytes`](crate::Bytes) (or with
/// `serde_bytes`): a `Vec<u8>` is a list of integers to serde, and Python reads it as a list.
///
/// # Pickle, safely
///
/// [`Format::Pickle`] reads protocols 2 to 5 and writes protocol 4, for `None`, `bool`, `int`,
/// `float`, `str`, `bytes`, `list`, `tuple` and `dict`, and dogpile 0.9's pickled
/// `CachedValue` in the seed envelope. Python's `pickle.loads` of bytes from a shared Redis
/// runs whatever those bytes name, so anyone who can write to that Redis can run code in every
/// reader. This reader executes nothing and builds no Python objects: a reference to any class
/// or function other than those above is a decode error, never a partial or empty value.
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
    /// Python's pickle for plain data: what dogpile.cache 1.x and the plugin write by default.
    Pickle,
    /// The plugin 0.5.0's cross-language format: `str`, `i\x7f<int>`, `b\x7f<bytes>`,
    /// `@\x7fNone`; use it in the [raw envelope](super::Envelope::Raw).
    RawProxy,
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
            Format::Pickle => "pickle",
            Format::RawProxy => "raw_proxy",
            Format::Custom(codec) => codec.name(),
        }
    }

    pub(crate) fn from_name(name: &str) -> Result<Self> {
        match name {
            #[cfg(feature = "msgpack")]
            "msgpack" => Ok(Format::Msgpack),
            #[cfg(feature = "json")]
            "json" => Ok(Format::Json),
            "pickle" => Ok(Format::Pickle),
            "raw_proxy" => Ok(Format::RawProxy),
            other => Err(Error::config(
                "serializer",
                format!(
                    "unknown serializer {other:?}; expected \"msgpack\" or \"json\" (with the crate feature of that \
                     name), \"pickle\" or \"raw_proxy\""
                ),
            )),
        }
    }

    pub(crate) fn serialize_value<S: Serialize>(&self, value: &S) -> Result<Vec<u8>, BoxError> {
        match self {
            #[cfg(feature = "msgpack")]
            Format::Msgpack => Ok(rmp_serde::to_vec_named(&Guarded(value, guard::MSGPACK))?),
            #[cfg(feature = "json")]
            Format::Json => Ok(serde_json::to_vec(&Guarded(value, guard::JSON))?),
            Format::Pickle => Ok(pickle::to_vec(value)?),
            Format::RawProxy => Ok(raw_proxy::to_vec(value)?),
            Format::Custom(codec) => codec.serialize(value),
        }
    }

    pub(crate) fn deserialize_value<D: DeserializeOwned>(&self, bytes: &[u8]) -> Result<D, BoxError> {
        match self {
            #[cfg(feature = "msgpack")]
            Format::Msgpack => msgpack_whole(bytes),
            #[cfg(feature = "json")]
            Format::Json => Ok(serde_json::from_slice(bytes)?),
            Format::Pickle => pickle::from_slice(bytes),
            Format::RawProxy => raw_proxy::from_slice(bytes),
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

/// The deepest nesting a msgpack payload may have: serde_json's limit for JSON. Each level is a
/// few frames of the value's deserializer, and bytes from any process sharing the cache can
/// nest as deep as they like: rmp_serde's own limit of 1,024 levels overflows a 2 MiB thread
/// stack in an unoptimised build (512 does too; 256 fits with half the stack to spare).
#[cfg(feature = "msgpack")]
const MSGPACK_MAX_DEPTH: usize = 128;

/// One msgpack value that takes up all of `bytes`.
///
/// The value is read first; then its length by its markers must be the length of `bytes`.
/// (Reading one more value after it cannot tell: a value cut short after it runs out of bytes
/// as the end of input does.)
#[cfg(feature = "msgpack")]
fn msgpack_whole<D: DeserializeOwned>(bytes: &[u8]) -> Result<D, BoxError> {
    let mut reader = rmp_serde::Deserializer::from_read_ref(bytes);
    reader.set_max_depth(MSGPACK_MAX_DEPTH);
    let value = D::deserialize(&mut reader)?;
    match msgpack_len(bytes) {
        Some(len) if len == bytes.len() => Ok(value),
        Some(len) => Err(format!("{} bytes after the msgpack value: not a msgpack payload", bytes.len() - len).into()),
        None => Err("bytes after the msgpack value: not a msgpack payload".into()),
    }
}

/// The length of the first msgpack value in `bytes`, by its markers alone (no decoding), or
/// `None` when it is truncated or malformed.
#[cfg(feature = "msgpack")]
fn msgpack_len(bytes: &[u8]) -> Option<usize> {
    let mut pos = 0usize;
    // Values still to skip: array items and map keys and values add to it.
    let mut pending: usize = 1;
    while pending > 0 {
        let marker = *bytes.get(pos)?;
        pos += 1;
        pending -= 1;
        // The markers of small values first, without bound checks: a position past the end
        // fails the next read, or the check after the loop.
        let items = match marker {
            0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => continue,
            0xa0..=0xbf => {
                pos += usize::from(marker & 0x1f);
                continue;
            }
            0xca => {
                pos += 4;
                continue;
            }
            0xcb => {
                pos += 8;
                continue;
            }
            0x80..=0x8f => 2 * usize::from(marker & 0x0f),
            0x90..=0x9f => usize::from(marker & 0x0f),
            _ => {
                let (next, items) = msgpack_skip(bytes, pos, marker)?;
                pos = next;
                items
            }
        };
        pending = pending.checked_add(items)?;
        // Each pending value needs a byte at least: more than are left is malformed.
        if pending > bytes.len().checked_sub(pos)? {
            return None;
        }
    }
    (pos <= bytes.len()).then_some(pos)
}

/// Past the value of `marker` (not a fix-sized one) whose bytes start at `pos`: the position
/// after its data, and the items it opens.
#[cfg(feature = "msgpack")]
fn msgpack_skip(bytes: &[u8], mut pos: usize, marker: u8) -> Option<(usize, usize)> {
    let uint = |pos: usize, width: usize| -> Option<usize> {
        let field = bytes.get(pos..pos.checked_add(width)?)?;
        Some(field.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b)))
    };
    // (bytes after the marker, of which a length field of this width, items it opens)
    let (fixed, len_width, items) = match marker {
        0xc4 | 0xd9 => (0, 1, 0),
        0xc5 | 0xda => (0, 2, 0),
        0xc6 | 0xdb => (0, 4, 0),
        0xc7 => (1, 1, 0),
        0xc8 => (1, 2, 0),
        0xc9 => (1, 4, 0),
        0xcc | 0xd0 => (1, 0, 0),
        0xcd | 0xd1 => (2, 0, 0),
        0xce | 0xd2 => (4, 0, 0),
        0xcf | 0xd3 => (8, 0, 0),
        0xd4..=0xd8 => (1 + (1 << (marker - 0xd4)), 0, 0),
        0xdc | 0xde => {
            let n = uint(pos, 2)?;
            pos += 2;
            (0, 0, if marker == 0xde { 2 * n } else { n })
        }
        0xdd | 0xdf => {
            let n = uint(pos, 4)?;
            pos += 4;
            (0, 0, if marker == 0xdf { n.checked_mul(2)? } else { n })
        }
        _ => return None,
    };
    let data = if len_width > 0 {
        let n = uint(pos, len_width)?;
        pos += len_width;
        n
    } else {
        0
    };
    pos = pos.checked_add(fixed)?.checked_add(data)?;
    (pos <= bytes.len()).then_some((pos, items))
}

#[cfg(all(test, feature = "msgpack"))]
mod tests {
    use super::*;

    /// Bytes nested far deeper than any value a program writes are refused before they use
    /// the stack up, in an unoptimised build too, on a thread with the 2 MiB stack of Rust's
    /// and Tokio's threads; and what is nested within the limit reads.
    #[cfg(feature = "msgpack")]
    #[test]
    fn deep_msgpack_is_an_error_not_a_stack_overflow() {
        let nested = |depth: usize| [vec![0x91u8; depth], vec![0xc0]].concat();
        let read = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                let deep = Format::Msgpack.deserialize_value::<crate::codec::Value>(&nested(100_000));
                let limit = Format::Msgpack.deserialize_value::<crate::codec::Value>(&nested(MSGPACK_MAX_DEPTH - 1));
                let past = Format::Msgpack.deserialize_value::<crate::codec::Value>(&nested(MSGPACK_MAX_DEPTH + 1));
                (deep.is_err(), limit.is_ok(), past.is_err())
            })
            .map(|thread| thread.join());
        assert!(matches!(read, Ok(Ok((true, true, true)))), "{read:?}");
    }

    #[test]
    fn msgpack_lengths_by_marker() {
        let value = (
            "x".repeat(300),
            vec![1u64, 300, 70_000, u64::MAX],
            -5i64,
            -200i64,
            1.5f64,
            1.5f32,
            Some(true),
            None::<u8>,
            std::collections::BTreeMap::from([(1u8, vec![0u8; 20])]),
        );
        let bytes = rmp_serde::to_vec(&value).unwrap();
        assert_eq!(msgpack_len(&bytes), Some(bytes.len()));
        let mut longer = bytes.clone();
        longer.extend_from_slice(b"tail");
        assert_eq!(msgpack_len(&longer), Some(bytes.len()));
        for cut in 0..bytes.len() {
            assert_eq!(msgpack_len(&bytes[..cut]), None, "cut at {cut}");
        }
        assert_eq!(msgpack_len(b"\xc4\x02ab"), Some(4));
        assert_eq!(msgpack_len(b"\xd5\x01ab"), Some(4));
        assert_eq!(msgpack_len(b"\xdd\xff\xff\xff\xff"), None);
        assert_eq!(msgpack_len(b"\xc1"), None);
    }

    #[test]
    fn msgpack_values_must_take_up_their_bytes() {
        let bytes = rmp_serde::to_vec(&(7u8, "seven")).unwrap();
        assert_eq!(msgpack_whole::<(u8, String)>(&bytes).unwrap(), (7, "seven".to_owned()));
        // Whatever follows the value, a whole one, a truncated one or a reserved marker, the
        // entry does not decode.
        for tail in [&b"\x00"[..], b"\xd9", b"\xc1", b"\xa3ab", b"\x92\x01\x02", b"\x92\x01", b"\x95\x9c\x95"] {
            let mut longer = bytes.clone();
            longer.extend_from_slice(tail);
            let err = msgpack_whole::<(u8, String)>(&longer).unwrap_err();
            assert!(err.to_string().contains("after the msgpack value"), "{tail:?}: {err}");
        }
        let err = msgpack_whole::<(u8, String)>(&[bytes.as_slice(), b"\x01\x02"].concat()).unwrap_err();
        assert!(err.to_string().starts_with("2 bytes after"), "{err}");
        // A truncated value is rmp-serde's error, not a trailing-bytes one.
        let err = msgpack_whole::<(u8, String)>(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(!err.to_string().contains("after the msgpack value"), "{err}");
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
