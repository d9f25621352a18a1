//! Which layout stored bytes are in: the layouts dogpile-rs and the Python deployments
//! write, tried most specific first.

use super::{Codec, Envelope, Format, Value};

/// A layout of stored bytes, named after who writes it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Layout {
    /// What writes it, for people.
    pub name: &'static str,
    /// The codec that reads it.
    pub codec: Codec,
}

impl Layout {
    /// Whether the layout keeps a creation time (the raw ones leave expiry to Redis).
    pub fn keeps_creation_time(&self) -> bool {
        self.codec.envelope().keeps_creation_time()
    }
}

/// The layouts dogpile-rs and the Python deployments write, most specific first: dogpile 1.x's
/// `metadata|payload` (pickle, msgpack, JSON), the seed's `[payload, metadata]`, dogpile 0.9's
/// and plugin 0.4's pickled `CachedValue`, the compact `[payload, ct]`, plugin 0.5.0's raw
/// format, then raw msgpack, JSON and pickle.
pub fn known_layouts() -> Vec<Layout> {
    let layout = |name, format, envelope| Layout { name, codec: Codec::new(format, envelope) };
    let mut layouts =
        vec![layout("dogpile 1.x, pickle (dogpile.cache.redis; plugin 0.5.0)", Format::Pickle, Envelope::Dogpile1)];
    #[cfg(feature = "msgpack")]
    layouts.push(layout("dogpile 1.x, msgpack", Format::Msgpack, Envelope::Dogpile1));
    #[cfg(feature = "json")]
    layouts.push(layout("dogpile 1.x, json", Format::Json, Envelope::Dogpile1));
    #[cfg(feature = "msgpack")]
    layouts.push(layout("seed, msgpack (dogpile-rs's default)", Format::Msgpack, Envelope::Seed));
    #[cfg(feature = "json")]
    layouts.push(layout("seed, json", Format::Json, Envelope::Seed));
    layouts.push(layout("pickled CachedValue (dogpile 0.9; plugin 0.4)", Format::Pickle, Envelope::Seed));
    #[cfg(feature = "msgpack")]
    layouts.push(layout("compact, msgpack", Format::Msgpack, Envelope::Compact));
    #[cfg(feature = "json")]
    layouts.push(layout("compact, json", Format::Json, Envelope::Compact));
    layouts.push(layout("plugin 0.5.0 raw", Format::RawProxy, Envelope::Raw));
    #[cfg(feature = "msgpack")]
    layouts.push(layout("raw msgpack", Format::Msgpack, Envelope::Raw));
    #[cfg(feature = "json")]
    layouts.push(layout("raw json", Format::Json, Envelope::Raw));
    layouts.push(layout("raw pickle", Format::Pickle, Envelope::Raw));
    layouts
}

/// The name of the first [known layout](known_layouts) that reads `bytes` whole, if any.
///
/// # Examples
///
/// ```
/// use dogpile::codec::{Compat, Value, detect};
///
/// let bytes = Compat::Dogpile1.codec().encode(&Value::from("Ada"), 1_700_000_000.0)?;
/// assert!(detect(&bytes).is_some_and(|name| name.starts_with("dogpile 1.x, pickle")));
/// assert_eq!(detect(b"\xc1 nothing known"), None);
/// # Ok::<(), dogpile::BoxError>(())
/// ```
pub fn detect(bytes: &[u8]) -> Option<&'static str> {
    known_layouts().into_iter().find(|layout| layout.codec.decode::<Value>(bytes, 0.0).is_ok()).map(|l| l.name)
}
