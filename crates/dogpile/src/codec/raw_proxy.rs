//! The plugin 0.5.0's cross-language format (`Serializer_Raw_ProxyBackend`): a bare UTF-8
//! string, or a one-character type tag, `\x7f`, and the value.
//!
//! | value | bytes |
//! |---|---|
//! | `str` | its UTF-8 bytes (refused if it contains `\x7f`) |
//! | `int` | `i\x7f` and its decimal digits |
//! | `bytes` | `b\x7f` and the bytes |
//! | `None` | `@\x7fNone` |
//! | (no value) | `@\x7fNO_VALUE`, read as a miss |
//!
//! Writing refuses what the plugin refuses (floats, lists, dicts, a `str` with `\x7f`), and
//! also two values that the plugin writes but cannot read back: `bool` (written as
//! `i\x7fTrue`) and `bytes` that contain `\x7f`. Reading follows the plugin's `_deserialize`:
//! one `\x7f` at most, a known tag, an `int` as Python's `int()` reads it; an `@` tag with
//! anything but `None` or `NO_VALUE` reads as the bytes after the tag, as in the plugin.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::ser::{self, Impossible};

use super::NoValueMarker;
use super::value::{CACHED_VALUE, Value, ValueDeserializer};
use crate::error::BoxError;

const TAG: u8 = 0x7f;

/// A value the format cannot hold, or bytes that are not of the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawProxyError(String);

impl std::fmt::Display for RawProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "raw proxy format (plugin 0.5.0): {}", self.0)
    }
}

impl std::error::Error for RawProxyError {}

impl ser::Error for RawProxyError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        RawProxyError(msg.to_string())
    }
}

fn refuse<T>(what: &str) -> Result<T, RawProxyError> {
    Err(RawProxyError(format!(
        "cannot represent {what}: it stores str, int, bytes and None only (unsupported payload for raw serialization)"
    )))
}

/// Encodes a payload as the plugin does.
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, RawProxyError> {
    value.serialize(Writer)
}

/// Decodes a payload as the plugin does; `@\x7fNO_VALUE` is a miss.
pub(crate) fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BoxError> {
    let value = match read(bytes)? {
        Some(value) => value,
        None => return Err(Box::new(NoValueMarker)),
    };
    Ok(T::deserialize(ValueDeserializer::new(value))?)
}

fn read(bytes: &[u8]) -> Result<Option<Value>, RawProxyError> {
    let mut parts = bytes.split(|&b| b == TAG);
    let first = parts.next().unwrap_or_default();
    let Some(value) = parts.next() else {
        let text = std::str::from_utf8(bytes).map_err(|_| RawProxyError("an untagged value is not UTF-8".into()))?;
        return Ok(Some(Value::Str(text.to_owned())));
    };
    if parts.next().is_some() {
        return Err(RawProxyError("more than one \\x7f separator".into()));
    }
    match first {
        b"b" => Ok(Some(Value::Bytes(value.to_vec()))),
        b"i" => python_int(value)
            .map(|n| Some(Value::Int(n)))
            .ok_or_else(|| RawProxyError("an i\\x7f value is not an integer that fits 128 bits".into())),
        b"@" => match value {
            b"NO_VALUE" => Ok(None),
            b"None" => Ok(Some(Value::None)),
            other => Ok(Some(Value::Bytes(other.to_vec()))),
        },
        _ => Err(RawProxyError("unknown type tag before \\x7f".into())),
    }
}

/// Python's `int(b"...")`: surrounding whitespace, a sign, digits with single underscores
/// between them.
fn python_int(text: &[u8]) -> Option<i128> {
    let text = text.trim_ascii();
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.first() == Some(&b'_') || digits.last() == Some(&b'_') {
        return None;
    }
    let mut n: i128 = 0;
    let mut previous_underscore = false;
    for &b in digits {
        if b == b'_' {
            if previous_underscore {
                return None;
            }
            previous_underscore = true;
            continue;
        }
        previous_underscore = false;
        let digit = i128::from(b.checked_sub(b'0').filter(|d| *d < 10)?);
        n = n.checked_mul(10)?;
        n = if negative { n.checked_sub(digit)? } else { n.checked_add(digit)? };
    }
    Some(n)
}

struct Writer;

fn int(n: impl std::fmt::Display) -> Result<Vec<u8>, RawProxyError> {
    Ok(format!("i\x7f{n}").into_bytes())
}

impl ser::Serializer for Writer {
    type Ok = Vec<u8>;
    type Error = RawProxyError;
    type SerializeSeq = Impossible<Vec<u8>, RawProxyError>;
    type SerializeTuple = Impossible<Vec<u8>, RawProxyError>;
    type SerializeTupleStruct = Impossible<Vec<u8>, RawProxyError>;
    type SerializeTupleVariant = Impossible<Vec<u8>, RawProxyError>;
    type SerializeMap = Impossible<Vec<u8>, RawProxyError>;
    type SerializeStruct = Impossible<Vec<u8>, RawProxyError>;
    type SerializeStructVariant = Impossible<Vec<u8>, RawProxyError>;

    fn serialize_bool(self, _v: bool) -> Result<Vec<u8>, RawProxyError> {
        Err(RawProxyError("cannot represent a bool: the plugin writes i\\x7fTrue, which it cannot read back".into()))
    }
    fn serialize_i8(self, v: i8) -> Result<Vec<u8>, RawProxyError> {
        int(v)
    }
    fn serialize_i16(self, v: i16) -> Result<Vec<u8>, RawProxyError> {
        int(v)
    }
    fn serialize_i32(self, v: i32) -> Result<Vec<u8>, RawProxyError> {
        int(v)
    }
    fn serialize_i64(self, v: i64) -> Result<Vec<u8>, RawProxyError> {
        int(v)
    }
    fn serialize_i128(self, v: i128) -> Result<Vec<u8>, RawProxyError> {
        int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Vec<u8>, RawProxyError> {
        int(v)
    }
    fn serialize_u16(self, v: u16) -> Result<Vec<u8>, RawProxyError> {
        int(v)
    }
    fn serialize_u32(self, v: u32) -> Result<Vec<u8>, RawProxyError> {
        int(v)
    }
    fn serialize_u64(self, v: u64) -> Result<Vec<u8>, RawProxyError> {
        int(v)
    }
    fn serialize_u128(self, v: u128) -> Result<Vec<u8>, RawProxyError> {
        int(v)
    }
    fn serialize_f32(self, _v: f32) -> Result<Vec<u8>, RawProxyError> {
        refuse("a float")
    }
    fn serialize_f64(self, _v: f64) -> Result<Vec<u8>, RawProxyError> {
        refuse("a float")
    }
    fn serialize_char(self, v: char) -> Result<Vec<u8>, RawProxyError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<Vec<u8>, RawProxyError> {
        if v.as_bytes().contains(&TAG) {
            return Err(RawProxyError("cannot encode value containing escape character \\x7f".into()));
        }
        Ok(v.as_bytes().to_vec())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Vec<u8>, RawProxyError> {
        if v.contains(&TAG) {
            return Err(RawProxyError(
                "cannot represent bytes that contain \\x7f: the plugin writes them but cannot read them back".into(),
            ));
        }
        let mut out = b"b\x7f".to_vec();
        out.extend_from_slice(v);
        Ok(out)
    }
    fn serialize_none(self) -> Result<Vec<u8>, RawProxyError> {
        Ok(b"@\x7fNone".to_vec())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, RawProxyError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Vec<u8>, RawProxyError> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Vec<u8>, RawProxyError> {
        self.serialize_none()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<Vec<u8>, RawProxyError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Vec<u8>, RawProxyError> {
        if name == CACHED_VALUE {
            return Err(RawProxyError("the format holds no metadata: use it in the raw envelope".into()));
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Vec<u8>, RawProxyError> {
        refuse("an enum variant with content")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, RawProxyError> {
        refuse("a list")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, RawProxyError> {
        refuse("a tuple")
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, RawProxyError> {
        refuse("a tuple")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, RawProxyError> {
        refuse("an enum variant with content")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, RawProxyError> {
        refuse("a dict")
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, RawProxyError> {
        refuse("a struct")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, RawProxyError> {
        refuse("an enum variant with content")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_the_plugin_writes() {
        assert_eq!(to_vec("hello").unwrap(), b"hello");
        assert_eq!(to_vec(&42).unwrap(), b"i\x7f42");
        assert_eq!(to_vec(&-7i64).unwrap(), b"i\x7f-7");
        assert_eq!(to_vec(&u64::MAX).unwrap(), b"i\x7f18446744073709551615");
        assert_eq!(to_vec(&Value::Bytes(b"\x00ab".to_vec())).unwrap(), b"b\x7f\x00ab");
        assert_eq!(to_vec(&None::<u8>).unwrap(), b"@\x7fNone");
        for refused in [to_vec(&1.5), to_vec(&true), to_vec(&vec![1]), to_vec("a\x7fb")] {
            assert!(refused.is_err());
        }
        assert!(to_vec(&Value::Bytes(vec![0x7f])).is_err());
    }

    #[test]
    fn reads_what_the_plugin_reads() {
        assert_eq!(read(b"hello").unwrap(), Some(Value::from("hello")));
        assert_eq!(read(b"").unwrap(), Some(Value::from("")));
        assert_eq!(read(b"i\x7f42").unwrap(), Some(Value::Int(42)));
        assert_eq!(read(b"i\x7f -4_2\n").unwrap(), Some(Value::Int(-42)));
        assert_eq!(read(b"b\x7f\xff").unwrap(), Some(Value::Bytes(vec![0xff])));
        assert_eq!(read(b"@\x7fNone").unwrap(), Some(Value::None));
        assert_eq!(read(b"@\x7fNO_VALUE").unwrap(), None);
        assert_eq!(read(b"@\x7fother").unwrap(), Some(Value::Bytes(b"other".to_vec())));
        for bad in [&b"i\x7f4__2"[..], b"i\x7f", b"i\x7f1.5", b"x\x7f1", b"b\x7fa\x7fb", b"\xff", b"i\x7f1e3"] {
            assert!(read(bad).is_err(), "{bad:?}");
        }
        let past = format!("i\x7f{}0", i128::MAX);
        assert!(read(past.as_bytes()).is_err());
    }
}
