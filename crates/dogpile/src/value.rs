//! Cached values and their metadata.

use serde::{Deserialize, Serialize};

/// The value version written into every entry's metadata (`"v"`), equal to Python
/// dogpile.cache's `value_version`; entries with another version are misses.
pub const VALUE_VERSION: u32 = 2;

/// The metadata stored with a value: its creation time, the value version, under
/// [early refresh](crate::region::EarlyRefresh) how long the value took to create, and the
/// value's [tags](crate::Region::invalidate_tags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metadata {
    /// Creation time, seconds since the Unix epoch.
    pub ct: f64,
    /// The value version ([`VALUE_VERSION`] when written by this crate).
    pub v: u32,
    /// Seconds the creator took (the `"d"` key; written only under early refresh, in the
    /// envelopes that keep metadata: dogpile 1.x and the seed's). Python dogpile reads only
    /// `ct` and `v` and ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<f64>,
    /// The value's tags (the `"t"` key, written only when there are some, in the envelopes
    /// that keep metadata): invalidating one of them invalidates the value. Python dogpile
    /// ignores the key.
    #[serde(rename = "t", default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl Metadata {
    /// Metadata for a value created at `ct` (seconds since the epoch), at the current version.
    pub fn new(ct: f64) -> Self {
        Metadata { ct, v: VALUE_VERSION, d: None, tags: Vec::new() }
    }

    /// Metadata for a value created at `ct` at value version `v`.
    pub fn with_version(ct: f64, v: u32) -> Self {
        Metadata { ct, v, d: None, tags: Vec::new() }
    }
}

/// A value with its metadata, as the region stores it (dogpile's `CachedValue`).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> dogpile::Result<()> {
/// let region = dogpile::Region::builder().build()?;
/// region.set("k", &7u32).await?;
/// let cached = region.get_value_metadata::<u32>("k").await?.expect("just set");
/// assert_eq!(cached.payload, 7);
/// assert!(cached.metadata.ct > 0.0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CachedValue<T> {
    /// The value.
    pub payload: T,
    /// Its metadata.
    pub metadata: Metadata,
}

impl<T> CachedValue<T> {
    /// A value created at `ct`.
    pub fn new(payload: T, ct: f64) -> Self {
        CachedValue { payload, metadata: Metadata::new(ct) }
    }

    /// The creation time, seconds since the Unix epoch.
    pub fn cached_time(&self) -> f64 {
        self.metadata.ct
    }

    /// The age in seconds at `now` (seconds since the epoch).
    pub fn age(&self, now: f64) -> f64 {
        now - self.metadata.ct
    }
}
