//! The pickle writer: a serde serializer that emits protocol 4 opcodes.

use serde::Serialize;
use serde::ser;

use super::{PickleError, op};
use crate::codec::value::CACHED_VALUE;

/// Pickles `value` (protocol 4).
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, PickleError> {
    let mut writer = Writer { out: vec![op::PROTO, 4], key_depth: 0 };
    value.serialize(&mut writer)?;
    writer.out.push(op::STOP);
    Ok(writer.out)
}

struct Writer {
    out: Vec<u8>,
    /// Above zero while a dict key is written: Python keys must be hashable.
    key_depth: usize,
}

fn len_u32(len: usize) -> Option<[u8; 4]> {
    u32::try_from(len).ok().map(u32::to_le_bytes)
}

impl Writer {
    fn int(&mut self, n: i128) {
        if let Ok(small) = u8::try_from(n) {
            self.out.extend_from_slice(&[op::BININT1, small]);
        } else if let Ok(short) = u16::try_from(n) {
            self.out.push(op::BININT2);
            self.out.extend_from_slice(&short.to_le_bytes());
        } else if let Ok(int) = i32::try_from(n) {
            self.out.push(op::BININT);
            self.out.extend_from_slice(&int.to_le_bytes());
        } else {
            // LONG1: the shortest little-endian two's complement.
            let bytes = n.to_le_bytes();
            let fill = if n < 0 { 0xff } else { 0 };
            let mut len = bytes.iter().rposition(|&b| b != fill).map_or(1, |i| i + 1);
            if (bytes[len - 1] & 0x80 != 0) != (n < 0) {
                len += 1;
            }
            self.out.extend_from_slice(&[op::LONG1, len as u8]);
            self.out.extend_from_slice(&bytes[..len]);
        }
    }

    fn str(&mut self, s: &str) {
        let len = s.len();
        if let Ok(short) = u8::try_from(len) {
            self.out.extend_from_slice(&[op::SHORT_BINUNICODE, short]);
        } else if let Some(len) = len_u32(len) {
            self.out.push(op::BINUNICODE);
            self.out.extend_from_slice(&len);
        } else {
            self.out.push(op::BINUNICODE8);
            self.out.extend_from_slice(&(len as u64).to_le_bytes());
        }
        self.out.extend_from_slice(s.as_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        let len = b.len();
        if let Ok(short) = u8::try_from(len) {
            self.out.extend_from_slice(&[op::SHORT_BINBYTES, short]);
        } else if let Some(len) = len_u32(len) {
            self.out.push(op::BINBYTES);
            self.out.extend_from_slice(&len);
        } else {
            self.out.push(op::BINBYTES8);
            self.out.extend_from_slice(&(len as u64).to_le_bytes());
        }
        self.out.extend_from_slice(b);
    }

    fn unhashable(&self, what: &str) -> Result<(), PickleError> {
        if self.key_depth > 0 {
            return Err(PickleError(format!("a {what} cannot be a dict key in Python (keys must be hashable)")));
        }
        Ok(())
    }

    /// Opens `{variant: ...}` for an enum variant with content.
    fn open_variant(&mut self, variant: &str) -> Result<(), PickleError> {
        self.unhashable("dict")?;
        self.out.push(op::EMPTY_DICT);
        self.str(variant);
        Ok(())
    }
}

/// A list, tuple or dict being written.
struct Compound<'a> {
    writer: &'a mut Writer,
    close: &'static [u8],
}

impl<'a> Compound<'a> {
    fn new(writer: &'a mut Writer, open: &[u8], close: &'static [u8]) -> Self {
        writer.out.extend_from_slice(open);
        Compound { writer, close }
    }

    fn end(self) -> Result<(), PickleError> {
        self.writer.out.extend_from_slice(self.close);
        Ok(())
    }
}

const LIST: (&[u8], &[u8]) = (&[op::EMPTY_LIST, op::MARK], &[op::APPENDS]);
const TUPLE: (&[u8], &[u8]) = (&[op::MARK], &[op::TUPLE]);
const DICT: (&[u8], &[u8]) = (&[op::EMPTY_DICT, op::MARK], &[op::SETITEMS]);

impl<'a> ser::Serializer for &'a mut Writer {
    type Ok = ();
    type Error = PickleError;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), PickleError> {
        self.out.push(if v { op::NEWTRUE } else { op::NEWFALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), PickleError> {
        self.serialize_i128(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), PickleError> {
        self.serialize_i128(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), PickleError> {
        self.serialize_i128(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), PickleError> {
        self.serialize_i128(v.into())
    }
    fn serialize_i128(self, v: i128) -> Result<(), PickleError> {
        self.int(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), PickleError> {
        self.serialize_i128(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), PickleError> {
        self.serialize_i128(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), PickleError> {
        self.serialize_i128(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), PickleError> {
        self.serialize_i128(v.into())
    }
    fn serialize_u128(self, v: u128) -> Result<(), PickleError> {
        let v = i128::try_from(v).map_err(|_| PickleError("integers above 2**127 - 1 are not written".into()))?;
        self.serialize_i128(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), PickleError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), PickleError> {
        self.out.push(op::BINFLOAT);
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), PickleError> {
        self.str(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), PickleError> {
        self.str(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), PickleError> {
        self.bytes(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), PickleError> {
        self.out.push(op::NONE);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), PickleError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), PickleError> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), PickleError> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), PickleError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<(), PickleError> {
        if name != CACHED_VALUE {
            return value.serialize(self);
        }
        // What CPython writes for a CachedValue (a tuple subclass): the class, the
        // (payload, metadata) tuple, NEWOBJ.
        self.unhashable("CachedValue")?;
        self.out.push(op::GLOBAL);
        self.out.extend_from_slice(b"dogpile.cache.api\nCachedValue\n");
        value.serialize(&mut *self)?;
        self.out.push(op::NEWOBJ);
        Ok(())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), PickleError> {
        self.open_variant(variant)?;
        value.serialize(&mut *self)?;
        self.out.push(op::SETITEM);
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, PickleError> {
        self.unhashable("list")?;
        Ok(Compound::new(self, LIST.0, LIST.1))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a>, PickleError> {
        Ok(Compound::new(self, TUPLE.0, TUPLE.1))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a>, PickleError> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, PickleError> {
        self.open_variant(variant)?;
        Ok(Compound::new(self, TUPLE.0, &[op::TUPLE, op::SETITEM]))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, PickleError> {
        self.unhashable("dict")?;
        Ok(Compound::new(self, DICT.0, DICT.1))
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a>, PickleError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, PickleError> {
        self.open_variant(variant)?;
        Ok(Compound::new(self, DICT.0, &[op::SETITEMS, op::SETITEM]))
    }
}

macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = PickleError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PickleError> {
                value.serialize(&mut *self.writer)
            }
            fn end(self) -> Result<(), PickleError> {
                Compound::end(self)
            }
        }
    )*};
}
elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = PickleError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), PickleError> {
        self.writer.key_depth += 1;
        let written = key.serialize(&mut *self.writer);
        self.writer.key_depth -= 1;
        written
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PickleError> {
        value.serialize(&mut *self.writer)
    }
    fn end(self) -> Result<(), PickleError> {
        Compound::end(self)
    }
}

macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = PickleError;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), PickleError> {
                self.writer.str(key);
                value.serialize(&mut *self.writer)
            }
            fn end(self) -> Result<(), PickleError> {
                Compound::end(self)
            }
        }
    )*};
}
fields!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_ints() {
        assert_eq!(to_vec(&5u8).unwrap(), [op::PROTO, 4, op::BININT1, 5, op::STOP]);
        assert_eq!(to_vec(&-1i8).unwrap(), [op::PROTO, 4, op::BININT, 0xff, 0xff, 0xff, 0xff, op::STOP]);
        // CPython: pickle.dumps(2**64 - 1, 4) uses LONG1 with nine bytes.
        let max = to_vec(&u64::MAX).unwrap();
        assert_eq!(&max[2..5], &[op::LONG1, 9, 0xff]);
        assert_eq!(max[max.len() - 2], 0);
        let min = to_vec(&i64::MIN).unwrap();
        assert_eq!(&min[2..4], &[op::LONG1, 8]);
    }

    #[test]
    fn unhashable_keys_are_refused() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(vec![1u8], 1u8);
        assert!(to_vec(&map).unwrap_err().to_string().contains("hashable"));
        let mut ok = std::collections::BTreeMap::new();
        ok.insert((1u8, "a"), 1u8);
        assert!(to_vec(&ok).is_ok());
    }
}
