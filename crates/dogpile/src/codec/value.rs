//! [`Value`]: a payload of any shape, in Python's data model.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple};
use serde::{Deserialize, Serialize, Serializer};

/// The newtype name under which the seed envelope hands its `[payload, metadata]` entry to
/// the format: transparent in msgpack and JSON, a `dogpile.cache.api.CachedValue` in pickle
/// (what dogpile 0.9 pickles).
pub(crate) const CACHED_VALUE: &str = "dogpile.cache.api.CachedValue";

/// The newtype name under which a [`Value`] asks to be read: a deserializer of values
/// ([`ValueDeserializer`], which pickle reads through) answers a tuple as the enum variant
/// [`TUPLE`], the one shape serde's data model has no other name for; every other
/// deserializer reads on as for any newtype.
const VALUE: &str = "dogpile.codec.Value";

/// The variant that carries a tuple to a [`Value`] (see [`VALUE`]).
const TUPLE: &str = "tuple";

/// A payload of any shape, in the data model that Python deployments share: `None`, `bool`,
/// `int`, `float`, `str`, `bytes`, `list`, `tuple` and `dict`.
///
/// Read an entry as a `Value` when its shape is not known in advance (a value written by a
/// Python process, say); store one to write exactly these Python types. Integers cover the
/// range of `i128`. A [`Value::Tuple`] is written as a tuple where the format has tuples
/// (pickle) and read back as one; the formats without tuples (msgpack, JSON) write an array
/// that reads back as a [`Value::List`], as in Python.
///
/// # Examples
///
/// ```
/// use dogpile::codec::{Codec, Compat, Value};
///
/// let codec = Compat::Dogpile1.codec(); // dogpile.cache 1.x: pickle in its envelope
/// let value = Value::Dict(vec![(Value::from("ids"), Value::List(vec![Value::from(1), Value::from(2)]))]);
/// let bytes = codec.encode(&value, 1_700_000_000.0)?;
/// assert_eq!(codec.decode::<Value>(&bytes, 0.0)?.payload, value);
/// # Ok::<(), dogpile::BoxError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A float.
    Float(f64),
    /// A text string.
    Str(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Value>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A dict, in its order.
    Dict(Vec<(Value, Value)>),
}

impl Value {
    /// The Python type name: `NoneType`, `bool`, `int`, `float`, `str`, `bytes`, `list`,
    /// `tuple` or `dict`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self {
                Value::Int(i128::from(n))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32, u64);

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::None => serializer.serialize_none(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(n) => {
                if let Ok(n) = i64::try_from(*n) {
                    serializer.serialize_i64(n)
                } else if let Ok(n) = u64::try_from(*n) {
                    serializer.serialize_u64(n)
                } else {
                    serializer.serialize_i128(*n)
                }
            }
            Value::Float(x) => serializer.serialize_f64(*x),
            Value::Str(s) => serializer.serialize_str(s),
            Value::Bytes(b) => serializer.serialize_bytes(b),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Tuple(items) => {
                let mut tuple = serializer.serialize_tuple(items.len())?;
                for item in items {
                    tuple.serialize_element(item)?;
                }
                tuple.end()
            }
            Value::Dict(pairs) => {
                let mut map = serializer.serialize_map(Some(pairs.len()))?;
                for (k, v) in pairs {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any plain value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i128::try_from(v).map(Value::Int).map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::None)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (name, variant) = data.variant::<Value>()?;
        match name {
            Value::Str(name) if name == TUPLE => de::VariantAccess::newtype_variant(variant).map(Value::Tuple),
            _ => Err(de::Error::invalid_type(de::Unexpected::Enum, &self)),
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some(pair) = map.next_entry()? {
            pairs.push(pair);
        }
        Ok(Value::Dict(pairs))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_newtype_struct(VALUE, ValueVisitor)
    }
}

/// Why a [`Value`] could not become the type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValueError(pub(crate) String);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}

impl de::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError(msg.to_string())
    }
}

/// Reads a [`Value`] into any `Deserialize` type: the payload formats that decode to a tree
/// first (pickle, the plugin's raw proxy format) hand it to serde through this.
pub(crate) struct ValueDeserializer {
    value: Value,
    wrapper: Wrapper,
}

/// Whether the value came wrapped in a pickled `CachedValue` (only pickle can tell).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wrapper {
    /// The format cannot tell: a `CachedValue` newtype is transparent.
    Unknown,
    /// A bare value: a `CachedValue` newtype is refused.
    Bare,
    /// A `CachedValue`: only a `CachedValue` newtype may read it.
    CachedValue,
}

impl ValueDeserializer {
    pub(crate) fn new(value: Value) -> Self {
        ValueDeserializer { value, wrapper: Wrapper::Unknown }
    }

    /// Marks the value as pickled inside a `CachedValue` (`true`) or bare (`false`).
    pub(crate) fn cached_value(mut self, wrapped: bool) -> Self {
        self.wrapper = if wrapped { Wrapper::CachedValue } else { Wrapper::Bare };
        self
    }

    fn unwrapped(&self) -> Result<(), ValueError> {
        if self.wrapper == Wrapper::CachedValue {
            return Err(ValueError(
                "the entry is a pickled CachedValue (the dogpile 0.9 / plugin 0.4 layout): read it with the seed \
                 envelope"
                    .into(),
            ));
        }
        Ok(())
    }
}

impl IntoDeserializer<'_, ValueError> for Value {
    type Deserializer = ValueDeserializer;

    fn into_deserializer(self) -> ValueDeserializer {
        ValueDeserializer::new(self)
    }
}

struct Items(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for Items {
    type Error = ValueError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, ValueError> {
        self.0.next().map(|v| seed.deserialize(ValueDeserializer::new(v))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Pairs {
    pairs: std::vec::IntoIter<(Value, Value)>,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for Pairs {
    type Error = ValueError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, ValueError> {
        match self.pairs.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(ValueDeserializer::new(k)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ValueError> {
        let value = self.value.take().ok_or_else(|| ValueError("a dict value was asked for before its key".into()))?;
        seed.deserialize(ValueDeserializer::new(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.pairs.len())
    }
}

struct Variant {
    name: Value,
    content: Option<Value>,
}

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = ValueError;
    type Variant = VariantContent;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, VariantContent), ValueError> {
        let name = seed.deserialize(ValueDeserializer::new(self.name))?;
        Ok((name, VariantContent(self.content)))
    }
}

struct VariantContent(Option<Value>);

impl<'de> de::VariantAccess<'de> for VariantContent {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        match self.0 {
            None | Some(Value::None) => Ok(()),
            Some(other) => Err(ValueError(format!("expected a unit variant, got {}", other.type_name()))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, ValueError> {
        let content = self.0.ok_or_else(|| ValueError("expected a variant with content".into()))?;
        seed.deserialize(ValueDeserializer::new(content))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, ValueError> {
        let content = self.0.ok_or_else(|| ValueError("expected a tuple variant".into()))?;
        ValueDeserializer::new(content).deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        let content = self.0.ok_or_else(|| ValueError("expected a struct variant".into()))?;
        ValueDeserializer::new(content).deserialize_map(visitor)
    }
}

impl<'de> Deserializer<'de> for ValueDeserializer {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.unwrapped()?;
        match self.value {
            Value::None => visitor.visit_none(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Int(n) => {
                if let Ok(n) = i64::try_from(n) {
                    visitor.visit_i64(n)
                } else if let Ok(n) = u64::try_from(n) {
                    visitor.visit_u64(n)
                } else {
                    visitor.visit_i128(n)
                }
            }
            Value::Float(x) => visitor.visit_f64(x),
            Value::Str(s) => visitor.visit_string(s),
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            Value::List(items) | Value::Tuple(items) => visitor.visit_seq(Items(items.into_iter())),
            Value::Dict(pairs) => visitor.visit_map(Pairs { pairs: pairs.into_iter(), value: None }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.unwrapped()?;
        match self.value {
            Value::None => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.unwrapped()?;
        match self.value {
            Value::None => visitor.visit_unit(),
            other => Err(ValueError(format!("expected None, got {}", other.type_name()))),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        if name == VALUE {
            self.unwrapped()?;
            return match self.value {
                Value::Tuple(items) => {
                    visitor.visit_enum(Variant { name: Value::from(TUPLE), content: Some(Value::List(items)) })
                }
                value => ValueDeserializer::new(value).deserialize_any(visitor),
            };
        }
        match (name == CACHED_VALUE, self.wrapper) {
            (true, Wrapper::CachedValue) => visitor.visit_newtype_struct(ValueDeserializer::new(self.value)),
            (true, Wrapper::Bare) => Err(ValueError(format!(
                "expected a pickled CachedValue (the seed envelope), found a bare {}: read it with the dogpile1 or \
                 raw envelope",
                self.value.type_name()
            ))),
            _ => {
                self.unwrapped()?;
                visitor.visit_newtype_struct(ValueDeserializer::new(self.value))
            }
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.unwrapped()?;
        match self.value {
            Value::Str(_) => visitor.visit_enum(Variant { name: self.value, content: None }),
            Value::Dict(mut pairs) if pairs.len() == 1 => {
                let (name, content) = pairs.remove(0);
                visitor.visit_enum(Variant { name, content: Some(content) })
            }
            other => Err(ValueError(format!("expected an enum (a str or a one-key dict), got {}", other.type_name()))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq, Deserialize)]
    enum Shape {
        Dot,
        Circle(f64),
        Rect { w: u32, h: u32 },
    }

    #[test]
    fn a_tree_reads_into_rust_types() {
        let v = Value::Dict(vec![(Value::from("a"), Value::List(vec![Value::from(1), Value::from(2)]))]);
        let map: BTreeMap<String, Vec<u8>> = Deserialize::deserialize(ValueDeserializer::new(v)).unwrap();
        assert_eq!(map["a"], [1, 2]);
        let big: u64 = Deserialize::deserialize(ValueDeserializer::new(Value::Int(u64::MAX.into()))).unwrap();
        assert_eq!(big, u64::MAX);
        let none: Option<u8> = Deserialize::deserialize(ValueDeserializer::new(Value::None)).unwrap();
        assert_eq!(none, None);
        let shapes: Vec<Shape> = Deserialize::deserialize(ValueDeserializer::new(Value::List(vec![
            Value::from("Dot"),
            Value::Dict(vec![(Value::from("Circle"), Value::Float(1.5))]),
            Value::Dict(vec![(
                Value::from("Rect"),
                Value::Dict(vec![(Value::from("w"), Value::from(2)), (Value::from("h"), Value::from(3))]),
            )]),
        ])))
        .unwrap();
        assert_eq!(shapes, [Shape::Dot, Shape::Circle(1.5), Shape::Rect { w: 2, h: 3 }]);
    }

    #[test]
    fn tuples_stay_tuples_at_every_depth_and_read_as_sequences_into_rust_types() {
        let empty = Value::Tuple(Vec::new());
        let v = Value::List(vec![
            Value::Tuple(vec![Value::from(1), empty.clone()]),
            Value::Dict(vec![(Value::Tuple(vec![Value::from("k")]), empty.clone())]),
        ]);
        let read: Value = Deserialize::deserialize(ValueDeserializer::new(v.clone())).unwrap();
        assert_eq!(read, v);
        let pairs: Vec<(u8, Vec<u8>)> = Deserialize::deserialize(ValueDeserializer::new(Value::List(vec![
            Value::Tuple(vec![Value::from(1), empty]),
        ])))
        .unwrap();
        assert_eq!(pairs, [(1, vec![])]);
        let json: Value = serde_json::from_str("[[1, []], {\"a\": null}]").unwrap();
        assert_eq!(
            json,
            Value::List(vec![
                Value::List(vec![Value::from(1), Value::List(vec![])]),
                Value::Dict(vec![(Value::from("a"), Value::None)])
            ])
        );
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let r: Result<u8, _> = Deserialize::deserialize(ValueDeserializer::new(Value::from("x")));
        assert!(r.is_err());
        let r: Result<u8, _> = Deserialize::deserialize(ValueDeserializer::new(Value::Int(300)));
        assert!(r.is_err());
    }
}
