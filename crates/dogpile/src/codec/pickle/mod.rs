//! Python's pickle, for plain data only: what dogpile.cache 1.x and the plugin write by
//! default.
//!
//! The reader takes protocols 2 to 5 and understands `None`, `bool`, `int` (of any size that
//! fits `i128`), `float`, `str`, `bytes`, `list`, `tuple` and `dict`, plus the one class that
//! dogpile 0.9.x pickles around every entry (`dogpile.cache.api.CachedValue`) and the two
//! helpers protocol 2 uses for `bytes` (`_codecs.encode` with `latin1`, and `bytes()`).
//!
//! # Why this is safe where `pickle.loads` is not
//!
//! Python's `pickle.loads` of bytes from a shared Redis runs whatever the bytes name: any
//! importable callable with any arguments, so anyone who can write to the Redis can run code in
//! every reader. This reader executes nothing and builds no Python objects: it is a stack
//! machine over a closed set of opcodes that only assemble plain data. A reference to any other
//! class or function, an object construction, a persistent id or an extension code is a
//! decode error, never a partial or empty value. Bytes after the final `STOP`, a reference
//! cycle, nesting deeper than 512 levels or shared references that expand beyond a size bound
//! are decode errors too; lengths are checked against the input before anything is allocated.
//!
//! The writer emits protocol 4 (read by Python 3.4 and later) without memo or frames.

mod read;
mod write;

pub(crate) use read::from_slice;
pub(crate) use write::to_vec;

/// A pickle that is not plain data, or a value pickle cannot hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PickleError(pub(crate) String);

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pickle: {}", self.0)
    }
}

impl std::error::Error for PickleError {}

impl serde::ser::Error for PickleError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        PickleError(msg.to_string())
    }
}

mod op {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const BININT2: u8 = b'M';
    pub const NONE: u8 = b'N';
    pub const REDUCE: u8 = b'R';
    pub const BINUNICODE: u8 = b'X';
    pub const APPEND: u8 = b'a';
    pub const GLOBAL: u8 = b'c';
    pub const DICT: u8 = b'd';
    pub const EMPTY_DICT: u8 = b'}';
    pub const APPENDS: u8 = b'e';
    pub const BINGET: u8 = b'h';
    pub const LONG_BINGET: u8 = b'j';
    pub const LIST: u8 = b'l';
    pub const EMPTY_LIST: u8 = b']';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const SETITEM: u8 = b's';
    pub const TUPLE: u8 = b't';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const SETITEMS: u8 = b'u';
    pub const BINFLOAT: u8 = b'G';
    pub const PROTO: u8 = 0x80;
    pub const NEWOBJ: u8 = 0x81;
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const LONG1: u8 = 0x8a;
    pub const LONG4: u8 = 0x8b;
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINBYTES8: u8 = 0x8e;
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const MEMOIZE: u8 = 0x94;
    pub const FRAME: u8 = 0x95;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::value::Value;

    fn round_trip(value: &Value) -> Value {
        let bytes = to_vec(value).unwrap();
        from_slice::<Value>(&bytes).unwrap()
    }

    #[test]
    fn plain_data_round_trips() {
        let value = Value::Dict(vec![
            (Value::from("n"), Value::Int(-5)),
            (Value::from("big"), Value::Int(i128::from(u64::MAX) + 1)),
            (Value::from("neg"), Value::Int(i128::MIN)),
            (Value::from("f"), Value::Float(-0.5)),
            (Value::from("s"), Value::from("héllo ✓")),
            (Value::from("b"), Value::Bytes(vec![0, 0x7f, 0xff])),
            (Value::from("l"), Value::List(vec![Value::None, Value::Bool(true), Value::Bool(false)])),
            (Value::from("t"), Value::Tuple(vec![Value::from(1), Value::Tuple(vec![])])),
            (Value::Int(7), Value::Str("x".repeat(300))),
        ]);
        assert_eq!(round_trip(&value), value);
        for n in [0i128, 1, 255, 256, 65535, 65536, -1, -256, i32::MAX.into(), i32::MIN.into(), i64::MIN.into()] {
            assert_eq!(round_trip(&Value::Int(n)), Value::Int(n), "{n}");
        }
        let big = Value::Tuple((0..5).map(Value::from).collect());
        assert_eq!(round_trip(&big), big);
    }

    #[test]
    fn python_protocol_2_bytes_and_cached_value() {
        // pickle.dumps(b'ab', 2) and pickle.dumps(b'', 2), from CPython 3.11.
        let ab = b"\x80\x02c_codecs\nencode\nq\x00X\x02\x00\x00\x00abq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.";
        assert_eq!(from_slice::<Value>(ab).unwrap(), Value::Bytes(b"ab".to_vec()));
        let empty = b"\x80\x02c__builtin__\nbytes\nq\x00)Rq\x01.";
        assert_eq!(from_slice::<Value>(empty).unwrap(), Value::Bytes(vec![]));
        // pickle.dumps(b'ab', 3), (.., 4) and (.., 5): bytes opcodes, frames, MEMOIZE.
        for ab in [
            &b"\x80\x03C\x02abq\x00."[..],
            b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00C\x02ab\x94.",
            b"\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00C\x02ab\x94.",
        ] {
            assert_eq!(from_slice::<Value>(ab).unwrap(), Value::Bytes(b"ab".to_vec()), "{ab:?}");
        }
    }

    #[test]
    fn anything_but_plain_data_is_refused() {
        // pickle.dumps(os.system) in protocol 2, and a crafted REDUCE of os.system('true').
        for bad in [
            &b"\x80\x02cposix\nsystem\nq\x00."[..],
            b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.",
            b"\x80\x04\x8c\x02os\x8c\x06system\x93.",
            b"\x80\x05\x8f.",                // an empty set
            b"\x80\x04K\x01.extra",          // bytes after STOP
            b"\x80\x04K\x01K\x02.",          // two values
            b"\x80\x04(K\x01.",              // an open mark
            b"\x80\x04X\xff\xff\xff\xffab.", // a length past the end
            b"\x80\x04]\x94h\x00a.",         // a list that contains itself
            b"\x80\x04h\x05.",               // a memo slot never written
            b"",
        ] {
            assert!(from_slice::<Value>(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn shared_references_are_copied_and_bounded() {
        // x = [1]; pickle.dumps([x, x], 4)
        let shared = b"\x80\x04]\x94(]\x94K\x01ah\x01e.";
        let list = Value::List(vec![Value::from(1)]);
        assert_eq!(from_slice::<Value>(shared).unwrap(), Value::List(vec![list.clone(), list]));
        // Each level doubles the previous one: 2^40 values from a few hundred bytes.
        let mut bomb = b"\x80\x04]\x940".to_vec();
        for i in 0u8..40 {
            bomb.extend_from_slice(&[b']', b'(', b'h', i, b'h', i, b'e', 0x94, b'0']);
        }
        bomb.extend_from_slice(b"h\x28.");
        let err = from_slice::<Value>(&bomb).unwrap_err().to_string();
        assert!(err.contains("expand"), "{err}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut deep = b"\x80\x04".to_vec();
        deep.extend(std::iter::repeat_n(b']', 100_000));
        deep.extend(std::iter::repeat_n(b'a', 99_999));
        deep.push(b'.');
        assert!(from_slice::<Value>(&deep).is_err());
    }
}
