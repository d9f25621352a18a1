//! Every payload format in every envelope: encode and decode a small value and a 10 KiB one.
//!
//! `cargo bench -p dogpile --bench codec`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dogpile::codec::{Codec, Envelope, Format};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Row {
    id: u64,
    name: String,
    tags: Vec<String>,
}

fn values() -> [(&'static str, Row); 2] {
    let small = Row { id: 7, name: "small".into(), tags: vec!["a".into(), "b".into()] };
    // About 10 KiB in either format.
    let big = Row {
        id: 8,
        name: "x".repeat(2048),
        tags: (0..200).map(|i| format!("tag-{i:05}-{}", "y".repeat(25))).collect(),
    };
    [("small", small), ("10KiB", big)]
}

fn codecs(c: &mut Criterion) {
    for (size, value) in values() {
        let mut group = c.benchmark_group(format!("codec {size}"));
        for format in [Format::Msgpack, Format::Json] {
            for envelope in Envelope::ALL {
                let codec = Codec::new(format.clone(), envelope);
                let name = format!("{}/{}", format.name(), envelope.name());
                let bytes = codec.encode(&value, 1_700_000_000.5).unwrap();
                group.throughput(Throughput::Bytes(bytes.len() as u64));
                group.bench_with_input(BenchmarkId::new("encode", &name), &value, |b, v| {
                    b.iter(|| black_box(codec.encode(black_box(v), 1_700_000_000.5).unwrap()))
                });
                group.bench_with_input(BenchmarkId::new("decode", &name), &bytes, |b, bytes| {
                    b.iter(|| black_box(codec.decode::<Row>(black_box(bytes), 0.0).unwrap()))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, codecs);
criterion_main!(benches);
