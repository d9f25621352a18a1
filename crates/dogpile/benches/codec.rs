//! Every payload format in every envelope: encode and decode a small value and a 10 KiB one;
//! and, with the `zstd` and `lz4` features, each compression of JSON-like documents of 2 to
//! 20 KiB (the sizes each one stores are printed first).
//!
//! `cargo bench -p dogpile --features zstd,lz4 --bench codec`

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

/// A JSON-like document of about `bytes`: records with ids, names, flags and repeated keys,
/// as an API response or an ORM row set holds them.
#[cfg(all(feature = "zstd", feature = "lz4"))]
fn document(bytes: usize) -> Vec<u8> {
    let mut out = String::from("{\"items\": [");
    let mut i = 0u64;
    while out.len() < bytes {
        let score = (i * 7919) % 1000;
        out.push_str(&format!(
            "{{\"id\": {i}, \"name\": \"customer {}\", \"email\": \"c{i}@example.com\", \"active\": {}, \"score\": {score}}}, ",
            i * 31 % 977,
            i.is_multiple_of(3)
        ));
        i += 1;
    }
    out.push_str("{}]}");
    out.into_bytes()
}

#[cfg(all(feature = "zstd", feature = "lz4"))]
fn compression(c: &mut Criterion) {
    use dogpile::codec::{Compression, Compressor};
    for size in [2 * 1024, 5 * 1024, 10 * 1024, 20 * 1024] {
        let entry = document(size);
        let mut group = c.benchmark_group(format!("compression {} KiB", size / 1024));
        group.throughput(Throughput::Bytes(entry.len() as u64));
        for algorithm in [Compression::Zstd, Compression::Lz4] {
            let compressor = Compressor::new(Some(algorithm));
            let stored = compressor.compress(entry.clone());
            eprintln!("{} KiB document, {}: {} -> {} bytes", size / 1024, algorithm.name(), entry.len(), stored.len());
            group.bench_with_input(BenchmarkId::new("compress", algorithm.name()), &entry, |b, e| {
                b.iter(|| black_box(compressor.compress(black_box(e.clone()))))
            });
            group.bench_with_input(BenchmarkId::new("decompress", algorithm.name()), &stored, |b, s| {
                b.iter(|| black_box(compressor.decompress(black_box(s)).unwrap().len()))
            });
        }
        group.finish();
    }
}

#[cfg(not(all(feature = "zstd", feature = "lz4")))]
fn compression(_: &mut Criterion) {}

criterion_group!(benches, codecs, compression);
criterion_main!(benches);
