//! Every payload format in every envelope, through the backend (dogpile's serializer suites).

use dogpile::codec::{Codec, Envelope, Format};
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

/// Each format x envelope stores and reads back a structured value, and what the backend
/// holds decodes with the codec alone.
pub async fn round_trip_every_layout(f: Fixture) {
    let sample = Sample { id: 7, name: "seven ✓".into(), score: 0.25, tags: vec!["x".into()], parent: None };
    for format in [Format::Msgpack, Format::Json] {
        for envelope in Envelope::ALL {
            let codec = Codec::new(format.clone(), envelope);
            let region = f.region(|b| b.codec(codec.clone()));
            let key = format!("layout:{}:{}", format.name(), envelope.name());
            region.set(key.as_str(), &sample).await.unwrap();
            assert_eq!(region.get::<Sample>(key.as_str()).await.unwrap().as_ref(), Some(&sample), "{codec:?}");
            let raw = f.backend().get(&key.as_str().into()).await.unwrap().expect("stored bytes");
            let decoded = codec.decode::<Sample>(&raw, 0.0).unwrap();
            assert_eq!(decoded.payload, sample, "{codec:?}");
        }
    }
}
