//! Codecs: property round trips of every format x envelope, random bytes into every decoder,
//! and the exact bytes shared with Python deployments.

use std::collections::BTreeMap;

use dogpile::VALUE_VERSION;
use dogpile::codec::{Codec, Envelope, Format};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Value {
    id: u64,
    n: i64,
    name: String,
    flag: bool,
    ratio: Option<f64>,
    tags: Vec<String>,
    map: BTreeMap<String, u32>,
}

fn value() -> impl Strategy<Value = Value> {
    (
        any::<u64>(),
        any::<i64>(),
        ".*",
        any::<bool>(),
        proptest::option::of(-1.0e12f64..1.0e12),
        proptest::collection::vec("[a-z|]{0,8}", 0..4),
        proptest::collection::btree_map("[a-z]{1,5}", any::<u32>(), 0..4),
    )
        .prop_map(|(id, n, name, flag, ratio, tags, map)| Value { id, n, name, flag, ratio, tags, map })
}

fn codecs() -> Vec<Codec> {
    let mut all = Vec::new();
    for format in [Format::Msgpack, Format::Json] {
        for envelope in Envelope::ALL {
            all.push(Codec::new(format.clone(), envelope));
        }
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn every_layout_round_trips(v in value(), ct in 0.0f64..4.0e9) {
        for codec in codecs() {
            let bytes = codec.encode(&v, ct).unwrap();
            let back = codec.decode::<Value>(&bytes, 123.0).unwrap();
            prop_assert_eq!(&back.payload, &v, "{:?}", codec);
            prop_assert_eq!(back.metadata.v, VALUE_VERSION);
            let expected_ct = match codec.envelope() {
                Envelope::Raw => 123.0,
                Envelope::Compact => ct.floor(),
                _ => ct,
            };
            prop_assert_eq!(back.metadata.ct, expected_ct, "{:?}", codec);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for codec in codecs() {
            let _ = codec.decode::<Value>(&bytes, 0.0);
            let _ = codec.decode::<String>(&bytes, 0.0);
            let _ = codec.decode::<Vec<u64>>(&bytes, 0.0);
            let _ = codec.decode::<serde_json::Value>(&bytes, 0.0);
        }
    }

    #[test]
    fn truncated_and_flipped_encodings_never_panic(v in value(), cut in 0usize..64, flip in any::<u8>()) {
        for codec in codecs() {
            let mut bytes = codec.encode(&v, 1.0e9).unwrap();
            let at = cut % bytes.len().max(1);
            if let Some(b) = bytes.get_mut(at) {
                *b ^= flip;
            }
            let _ = codec.decode::<Value>(&bytes, 0.0);
            bytes.truncate(at);
            let _ = codec.decode::<Value>(&bytes, 0.0);
        }
    }
}

#[test]
fn dogpile1_layout_matches_python_json_dumps() {
    let codec = Codec::new(Format::Json, Envelope::Dogpile1);
    let bytes = codec.encode(&serde_json::json!({"a": 1}), 1_732_423_789.123_456_7).unwrap();
    assert_eq!(bytes, br#"{"ct": 1732423789.1234567, "v": 2}|{"a":1}"#);
    // Python writes integral floats with ".0".
    let bytes = codec.encode(&1, 1_700_000_000.0).unwrap();
    assert_eq!(bytes, br#"{"ct": 1700000000.0, "v": 2}|1"#);
}

#[test]
fn seed_layout_is_a_msgpack_array_with_a_metadata_map() {
    let codec = Codec::new(Format::Msgpack, Envelope::Seed);
    let bytes = codec.encode(&"hi", 1.5).unwrap();
    // fixarray(2), fixstr "hi", fixmap(2) {"ct": float64 1.5, "v": 2}
    let mut expected = vec![0x92, 0xa2, b'h', b'i', 0x82, 0xa2, b'c', b't', 0xcb];
    expected.extend_from_slice(&1.5f64.to_be_bytes());
    expected.extend_from_slice(&[0xa1, b'v', 0x02]);
    assert_eq!(bytes, expected);
}

#[test]
fn compact_and_raw_layouts() {
    let compact = Codec::new(Format::Msgpack, Envelope::Compact).encode(&7u8, 1_700_000_000.9).unwrap();
    assert_eq!(compact, [0x92, 0x07, 0xce, 0x65, 0x53, 0xf1, 0x00]);
    let raw = Codec::new(Format::Msgpack, Envelope::Raw).encode(&7u8, 1.0).unwrap();
    assert_eq!(raw, [0x07]);
    let json_raw = Codec::new(Format::Json, Envelope::Raw).encode(&vec![1, 2], 1.0).unwrap();
    assert_eq!(json_raw, b"[1,2]");
}

#[test]
fn python_written_entries_decode() {
    // msgpack.packb(CachedValue({"one": 399, "two": "foo"}, {"ct": 1700000000.25, "v": 2}))
    let mut bytes =
        vec![0x92, 0x82, 0xa3, b'o', b'n', b'e', 0xcd, 0x01, 0x8f, 0xa3, b't', b'w', b'o', 0xa3, b'f', b'o', b'o'];
    bytes.extend_from_slice(&[0x82, 0xa2, b'c', b't', 0xcb]);
    bytes.extend_from_slice(&1_700_000_000.25f64.to_be_bytes());
    bytes.extend_from_slice(&[0xa1, b'v', 0x02]);
    let got =
        Codec::new(Format::Msgpack, Envelope::Seed).decode::<BTreeMap<String, serde_json::Value>>(&bytes, 0.0).unwrap();
    assert_eq!(got.metadata.ct, 1_700_000_000.25);
    assert_eq!(got.payload["one"], 399);
    assert_eq!(got.payload["two"], "foo");
    // An integer ct (a hand-written entry) is accepted too.
    let got =
        Codec::new(Format::Json, Envelope::Dogpile1).decode::<u8>(br#"{"ct": 1700000000, "v": 2}|5"#, 0.0).unwrap();
    assert_eq!((got.payload, got.metadata.ct), (5, 1_700_000_000.0));
}

#[test]
fn unknown_names_are_config_errors() {
    let err = Codec::from_names(Some("pickle"), None).unwrap_err();
    assert!(err.to_string().contains("serializer"), "{err}");
    let err = Codec::from_names(None, Some("zip")).unwrap_err();
    assert!(err.to_string().contains("envelope"), "{err}");
    assert_eq!(Codec::from_names(Some("json"), Some("raw")).unwrap(), Codec::new(Format::Json, Envelope::Raw));
}
