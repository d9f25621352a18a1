//! The conformance suite against the memory backend.

use dogpile::backend::MemoryBackend;
use dogpile::codec::{Codec, Envelope, Format};
use dogpile::config::Arguments;
use dogpile_testing::Fixture;

dogpile_testing::conformance!(memory, MemoryBackend::default);
dogpile_testing::conformance!(memory_configured, || Fixture::configured(
    "memory",
    Arguments::new().with("capacity", 100_000)
));
dogpile_testing::conformance!(memory_json_dogpile1, || Fixture::new(MemoryBackend::default())
    .with_codec(Codec::new(Format::Json, Envelope::Dogpile1)));
dogpile_testing::conformance!(memory_compact, || Fixture::new(MemoryBackend::default())
    .with_codec(Codec::new(Format::Msgpack, Envelope::Compact)));
dogpile_testing::conformance!(memory_raw, || Fixture::new(MemoryBackend::default())
    .with_codec(Codec::new(Format::Msgpack, Envelope::Raw)));
