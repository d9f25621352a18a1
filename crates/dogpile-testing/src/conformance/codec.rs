//! Every payload format in every envelope, uncompressed and compressed, through the backend
//! (dogpile's serializer suites).

use dogpile::codec::{Codec, Compression, Compressor, Envelope, Format};
use serde::{Deserialize, Serialize};

use crate::Fixture;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sample {
    id: u64,
    name: String,
    score: f64,
    tags: Vec<String>,
    parent: Option<u32>,
}

/// Each format x envelope, uncompressed and compressed with each algorithm, stores and reads
/// back a structured value; what the backend holds decodes with the codec alone, and a
/// compressed entry is compressed there and read by a codec that does not compress.
pub async fn round_trip_every_layout(f: Fixture) {
    let sample = Sample { id: 7, name: "seven ✓ ".repeat(40), score: 0.25, tags: vec!["x".into()], parent: None };
    let compressions = [None, Some(Compression::Zstd), Some(Compression::Lz4)];
    for format in [Format::Msgpack, Format::Json] {
        for envelope in Envelope::ALL {
            for compression in compressions {
                let plain = Codec::new(format.clone(), envelope);
                let codec = plain.clone().with_compressor(Compressor::new(compression).compress_above(64));
                let region = f.region(|b| b.codec(codec.clone()));
                let key = format!("layout:{}:{}:{compression:?}", format.name(), envelope.name());
                region.set(key.as_str(), &sample).await.unwrap();
                assert_eq!(region.get::<Sample>(key.as_str()).await.unwrap().as_ref(), Some(&sample), "{codec:?}");
                let raw = f.backend().get(&key.as_str().into()).await.unwrap().expect("stored bytes");
                assert_eq!(Compressor::compressed_with(&raw), compression, "{codec:?}");
                assert_eq!(plain.decode::<Sample>(&raw, 0.0).unwrap().payload, sample, "{codec:?}");
            }
        }
    }
}
