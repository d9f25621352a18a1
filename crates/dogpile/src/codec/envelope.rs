//! Envelopes: where the metadata goes.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ForeignVersion;
use super::format::Format;
use super::value::CACHED_VALUE;
use crate::error::{BoxError, Error, Result};
use crate::value::{CachedValue, Metadata};

/// The layout that carries a value's metadata next to its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Envelope {
    /// Python dogpile.cache 1.x: `json.dumps(metadata)` `|` payload bytes.
    Dogpile1,
    /// The seed's `[payload, {"ct": .., "v": ..}]`, serialized whole by the payload format.
    Seed,
    /// `[payload, ct]` with `ct` as whole seconds. Sub-second precision is dropped, so an entry
    /// may look up to one second older than it is: it may expire up to a second early, and a
    /// value created in the same second as a region invalidation counts as invalidated.
    Compact,
    /// The payload alone. Reads give `ct` = now, so the region never expires such entries:
    /// expiry is left to the store (a Redis TTL).
    Raw,
}

impl Envelope {
    /// The configuration name: `dogpile1`, `seed`, `compact` or `raw`.
    pub fn name(self) -> &'static str {
        match self {
            Envelope::Dogpile1 => "dogpile1",
            Envelope::Seed => "seed",
            Envelope::Compact => "compact",
            Envelope::Raw => "raw",
        }
    }

    /// All envelopes.
    pub const ALL: [Envelope; 4] = [Envelope::Dogpile1, Envelope::Seed, Envelope::Compact, Envelope::Raw];

    /// True when the stored bytes keep the creation time, so the region can expire entries.
    pub fn keeps_creation_time(self) -> bool {
        !matches!(self, Envelope::Raw)
    }

    pub(crate) fn from_name(name: &str) -> Result<Self> {
        Envelope::ALL.into_iter().find(|e| e.name() == name).ok_or_else(|| {
            Error::config(
                "envelope",
                format!("unknown envelope {name:?}; expected one of \"dogpile1\", \"seed\", \"compact\", \"raw\""),
            )
        })
    }

    /// True when the stored bytes keep metadata beyond the creation time (the creation
    /// duration, tags): dogpile 1.x's and the seed's.
    pub fn keeps_metadata(self) -> bool {
        matches!(self, Envelope::Dogpile1 | Envelope::Seed)
    }

    /// Encodes `payload` with `metadata` (its creation duration and tags only where the layout
    /// keeps metadata: dogpile 1.x and the seed's).
    pub(crate) fn encode<T: Serialize>(
        self,
        format: &Format,
        payload: &T,
        metadata: Metadata,
    ) -> Result<Vec<u8>, BoxError> {
        let (ct, version) = (metadata.ct, metadata.v);
        match self {
            Envelope::Dogpile1 => {
                // Python's json.dumps(metadata): ", " and ": " separators, float repr.
                let mut out = format!("{{\"ct\": {ct:?}, \"v\": {version}");
                if let Some(d) = metadata.d {
                    out.push_str(&format!(", \"d\": {d:?}"));
                }
                for (i, tag) in metadata.tags.iter().enumerate() {
                    out.push_str(if i == 0 { ", \"t\": [" } else { ", " });
                    out.push_str(&serde_json::to_string(tag)?);
                }
                if !metadata.tags.is_empty() {
                    out.push(']');
                }
                out.push_str("}|");
                let mut out = out.into_bytes();
                out.extend_from_slice(&format.serialize_value(payload)?);
                Ok(out)
            }
            Envelope::Seed => format.serialize_value(&SeedEntry((payload, metadata))),
            Envelope::Compact => format.serialize_value(&(payload, ct.floor() as i64)),
            Envelope::Raw => format.serialize_value(payload),
        }
    }

    pub(crate) fn decode<T: DeserializeOwned>(
        self,
        format: &Format,
        bytes: &[u8],
        now: f64,
        version: u32,
    ) -> Result<CachedValue<T>, BoxError> {
        match self {
            Envelope::Dogpile1 => {
                let split = bytes.iter().position(|&b| b == b'|').ok_or("no `|` between metadata and payload")?;
                let metadata: StoredMetadata = serde_json::from_slice(&bytes[..split])?;
                let metadata = metadata.read()?;
                let payload = format.deserialize_value(&bytes[split + 1..])?;
                Ok(CachedValue { payload, metadata })
            }
            Envelope::Seed => {
                let SeedEntry((payload, metadata)) =
                    format.deserialize_value::<SeedEntry<(T, StoredMetadata)>>(bytes)?;
                Ok(CachedValue { payload, metadata: metadata.read()? })
            }
            Envelope::Compact => {
                let (payload, ct): (T, f64) = format.deserialize_value(bytes)?;
                Ok(CachedValue { payload, metadata: Metadata::with_version(ct, version) })
            }
            Envelope::Raw => Ok(CachedValue {
                payload: format.deserialize_value(bytes)?,
                metadata: Metadata::with_version(now, version),
            }),
        }
    }
}

/// Metadata as stored by any writer: dogpile compares the value version with its own and
/// reads any other as a miss, so a version outside what this crate writes (dogpile's tests
/// store `value_version - 5`) is read too, and refused as [`ForeignVersion`].
#[derive(serde::Deserialize)]
struct StoredMetadata {
    ct: f64,
    v: i64,
    #[serde(default)]
    d: Option<f64>,
    #[serde(default)]
    t: Vec<String>,
}

impl StoredMetadata {
    fn read(self) -> Result<Metadata, BoxError> {
        let StoredMetadata { ct, v, d, t } = self;
        let v = u32::try_from(v).map_err(|_| -> BoxError { Box::new(ForeignVersion(v)) })?;
        let mut metadata = Metadata::with_version(ct, v);
        metadata.d = d;
        metadata.tags = t;
        Ok(metadata)
    }
}

/// The seed envelope's entry, named for the formats that mark it.
struct SeedEntry<E>(E);

impl<E: Serialize> Serialize for SeedEntry<E> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(CACHED_VALUE, &self.0)
    }
}

impl<'de, E: serde::Deserialize<'de>> serde::Deserialize<'de> for SeedEntry<E> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<E>(std::marker::PhantomData<E>);
        impl<'de, E: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visit<E> {
            type Value = SeedEntry<E>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a [payload, metadata] entry")
            }
            fn visit_newtype_struct<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                E::deserialize(d).map(SeedEntry)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                E::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(SeedEntry)
            }
        }
        deserializer.deserialize_newtype_struct(CACHED_VALUE, Visit(std::marker::PhantomData))
    }
}
