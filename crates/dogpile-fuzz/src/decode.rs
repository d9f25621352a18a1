//! Stored bytes read by every known layout: a value only for a whole payload, and a value
//! that writes back to bytes that read as the same value.

use dogpile::codec::{Codec, Envelope, Format, Value, detect, known_layouts};

/// Reads `data` with every known layout, and checks what each gives:
///
/// - bytes it accepts, cut short by one byte or followed by one more (`x`), are refused, for
///   the formats whose payloads cannot be cut (not the raw proxy format's text);
/// - a value it gives writes back in the same layout, and those bytes read as the same value
///   and creation time, and write again to the same bytes;
/// - `detect` names the first layout that accepts the bytes.
pub fn decode(data: &[u8]) {
    let layouts = known_layouts();
    let mut first = None;
    for layout in &layouts {
        let Ok(value) = layout.codec.decode::<Value>(data, 0.0) else { continue };
        first.get_or_insert(layout.name);
        if ends_where_it_must(layout.codec.format(), data) {
            refused(&layout.codec, &data[..data.len() - 1], layout.name, "cut short");
            refused(&layout.codec, &[data, b"x"].concat(), layout.name, "with a byte more");
        }
        writes_back(&layout.codec, value, layout.name);
    }
    assert_eq!(detect(data), first, "detect disagrees with the layouts");
}

/// Whether neither `data` cut short by a byte nor `data` with a byte after it can be a payload.
///
/// Not so for the raw proxy format (text ends anywhere), nor for JSON ending in a number or
/// whitespace (`12` cut short is `1`, `[1] ` cut short is `[1]`): the other payloads end with
/// a byte that closes them (pickle's `STOP`, msgpack's declared lengths, JSON's brackets and
/// quotes and literals).
fn ends_where_it_must(format: &Format, data: &[u8]) -> bool {
    match format {
        Format::RawProxy => false,
        Format::Json => !data.last().is_some_and(|b| b.is_ascii_digit() || b.is_ascii_whitespace()),
        _ => true,
    }
}

fn refused(codec: &Codec, bytes: &[u8], layout: &str, how: &str) {
    if let Ok(value) = codec.decode::<Value>(bytes, 0.0) {
        panic!("{layout}: bytes {how} read as {value:?}: {bytes:?}");
    }
}

fn writes_back(codec: &Codec, read: dogpile::CachedValue<Value>, layout: &str) {
    let codec = codec.clone().with_value_version(read.metadata.v);
    let took = read.metadata.d.unwrap_or(0.0);
    let Ok(bytes) = codec.encode_created(&read.payload, read.metadata.ct, took) else {
        // A value this crate reads but cannot write (an integer past msgpack's 64 bits in a
        // pickle, say) is not a wrong value; it stays a read-only value.
        return;
    };
    let again = match codec.decode::<Value>(&bytes, 0.0) {
        Ok(again) => again,
        Err(err) => panic!("{layout}: {:?} wrote bytes it cannot read ({err}): {bytes:?}", read.payload),
    };
    assert!(same(&again.payload, &read.payload), "{layout}: {:?} read back as {:?}", read.payload, again.payload);
    // The creation time as the envelope keeps it: whole seconds in the compact one.
    let kept = match codec.envelope() {
        Envelope::Raw => None,
        Envelope::Compact => Some(read.metadata.ct.floor() as i64 as f64),
        _ => Some(read.metadata.ct),
    };
    if let Some(ct) = kept {
        assert_eq!(again.metadata.ct.to_bits(), ct.to_bits(), "{layout}: creation time");
    }
    let twice = codec.encode_created(&again.payload, again.metadata.ct, took).ok();
    assert_eq!(twice.as_deref(), Some(&bytes[..]), "{layout}: writing {:?} is not stable", read.payload);
}

/// Value equality where a float is its bits (NaN is itself, 0.0 is not -0.0).
fn same(a: &Value, b: &Value) -> bool {
    let all = |a: &[Value], b: &[Value]| a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b));
    match (a, b) {
        (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
        (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => all(a, b),
        (Value::Dict(a), Value::Dict(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|((ak, av), (bk, bv))| same(ak, bk) && same(av, bv))
        }
        _ => a == b,
    }
}
