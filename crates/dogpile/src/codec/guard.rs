//! A serializer adapter that keeps msgpack and JSON output inside what a Python reader reads
//! back as the same value: what the format would silently turn into another type is an error.
//!
//! - JSON has no bytes (serde_json writes a list of integers) and no NaN or infinity (serde_json
//!   writes `null`): both are refused.
//! - msgpack has no 128-bit integers (rmp-serde writes them as 16 raw bytes): an `i128` or
//!   `u128` is written as the msgpack integer when it fits 64 bits, and refused otherwise.

use serde::Serialize;
use serde::ser::{self, Error as _};

/// What the target format cannot hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Bytes and non-finite floats are refused (JSON).
    pub(crate) text_only: bool,
    /// 128-bit integers must fit 64 bits (msgpack).
    pub(crate) ints_64: bool,
}

pub(crate) const JSON: Limits = Limits { text_only: true, ints_64: false };
pub(crate) const MSGPACK: Limits = Limits { text_only: false, ints_64: true };

/// `value`, serialized under `limits`.
pub(crate) struct Guarded<'a, T: ?Sized>(pub(crate) &'a T, pub(crate) Limits);

impl<T: Serialize + ?Sized> Serialize for Guarded<'_, T> {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(Guard { inner: serializer, limits: self.1 })
    }
}

struct Guard<S> {
    inner: S,
    limits: Limits,
}

impl<S: ser::Serializer> Guard<S> {
    fn float(self, v: f64) -> Result<S::Ok, S::Error> {
        if self.limits.text_only && !v.is_finite() {
            return Err(S::Error::custom(
                "JSON cannot represent NaN or infinity (it would be read back as None); use another serializer",
            ));
        }
        self.inner.serialize_f64(v)
    }

    fn wide(self, v: i128) -> Result<S::Ok, S::Error> {
        if !self.limits.ints_64 {
            return self.inner.serialize_i128(v);
        }
        if let Ok(n) = i64::try_from(v) {
            self.inner.serialize_i64(n)
        } else if let Ok(n) = u64::try_from(v) {
            self.inner.serialize_u64(n)
        } else {
            Err(S::Error::custom("msgpack cannot represent an integer outside the 64-bit range"))
        }
    }
}

/// A compound value of the inner serializer whose elements are guarded too.
struct Compound<C> {
    inner: C,
    limits: Limits,
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
            self.inner.$method($($arg),*)
        }
    )*};
}

impl<S: ser::Serializer> ser::Serializer for Guard<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq>;
    type SerializeTuple = Compound<S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant>;
    type SerializeMap = Compound<S::SerializeMap>;
    type SerializeStruct = Compound<S::SerializeStruct>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant>;

    forward! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_i128(self, v: i128) -> Result<S::Ok, S::Error> {
        self.wide(v)
    }
    fn serialize_u128(self, v: u128) -> Result<S::Ok, S::Error> {
        match i128::try_from(v) {
            Ok(v) => self.wide(v),
            Err(_) if !self.limits.ints_64 => self.inner.serialize_u128(v),
            Err(_) => Err(S::Error::custom("msgpack cannot represent an integer outside the 64-bit range")),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        if self.limits.text_only && !v.is_finite() {
            return self.float(v.into());
        }
        self.inner.serialize_f32(v)
    }
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        self.float(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        if self.limits.text_only {
            return Err(S::Error::custom(
                "JSON cannot represent bytes (they would be read back as a list of integers); use msgpack or pickle",
            ));
        }
        self.inner.serialize_bytes(v)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.serialize_some(&Guarded(value, self.limits))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.serialize_newtype_struct(name, &Guarded(value, self.limits))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_newtype_variant(name, index, variant, &Guarded(value, self.limits))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Ok(Compound { inner: self.inner.serialize_seq(len)?, limits: self.limits })
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        Ok(Compound { inner: self.inner.serialize_tuple(len)?, limits: self.limits })
    }
    fn serialize_tuple_struct(self, name: &'static str, len: usize) -> Result<Self::SerializeTupleStruct, S::Error> {
        Ok(Compound { inner: self.inner.serialize_tuple_struct(name, len)?, limits: self.limits })
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Ok(Compound { inner: self.inner.serialize_tuple_variant(name, index, variant, len)?, limits: self.limits })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Ok(Compound { inner: self.inner.serialize_map(len)?, limits: self.limits })
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Self::SerializeStruct, S::Error> {
        Ok(Compound { inner: self.inner.serialize_struct(name, len)?, limits: self.limits })
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Ok(Compound { inner: self.inner.serialize_struct_variant(name, index, variant, len)?, limits: self.limits })
    }
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! compound {
    ($trait:ident, $method:ident) => {
        impl<C: ser::$trait> ser::$trait for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
                self.inner.$method(&Guarded(value, self.limits))
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    };
}
compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        self.inner.serialize_key(&Guarded(key, self.limits))
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        self.inner.serialize_value(&Guarded(value, self.limits))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

macro_rules! compound_fields {
    ($trait:ident) => {
        impl<C: ser::$trait> ser::$trait for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), C::Error> {
                self.inner.serialize_field(key, &Guarded(value, self.limits))
            }
            fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
                self.inner.skip_field(key)
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    };
}
compound_fields!(SerializeStruct);
compound_fields!(SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_refuses_what_python_would_misread() {
        let json = |v: &dyn erased_serde::Serialize| serde_json::to_vec(&Guarded(v, JSON));
        assert!(json(&f64::NAN).is_err());
        assert!(json(&vec![Some(f64::INFINITY)]).is_err());
        assert!(json(&crate::codec::Value::Bytes(vec![1])).is_err());
        assert_eq!(json(&vec![1.5]).unwrap(), b"[1.5]");
        assert_eq!(json(&(u64::MAX as u128 + 1)).unwrap(), b"18446744073709551616");
    }

    #[cfg(feature = "msgpack")]
    #[test]
    fn msgpack_writes_wide_ints_as_integers() {
        let pack = |v: &dyn erased_serde::Serialize| rmp_serde::to_vec_named(&Guarded(v, MSGPACK));
        assert_eq!(pack(&5i128).unwrap(), rmp_serde::to_vec(&5i64).unwrap());
        assert_eq!(pack(&u128::from(u64::MAX)).unwrap(), rmp_serde::to_vec(&u64::MAX).unwrap());
        assert!(pack(&i128::MIN).is_err());
        assert_eq!(pack(&f64::NAN).unwrap().len(), 9);
    }
}
