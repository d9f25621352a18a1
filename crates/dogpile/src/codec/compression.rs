//! Compression of stored values: the encoded entry, whole, behind a header that says how it is
//! compressed and how long it is once decompressed.
//!
//! ```text
//! 0xFF 'D' 'Z' <algorithm: 1 zstd, 2 lz4> <decompressed length: u32, little-endian> <compressed bytes>
//! ```
//!
//! No layout that dogpile-rs or Python's dogpile.cache writes starts with `0xFF`: not dogpile
//! 1.x's `{`, a pickle's opcodes, JSON, UTF-8 text, nor a msgpack payload (`0xFF` is the whole
//! value -1). So a reader tells a compressed entry from another by its first bytes, whatever it
//! is configured to write, and a region turns compression on or off without a flush: old and
//! new entries read side by side.

use std::borrow::Cow;

use crate::config::Arguments;
use crate::error::{BoxError, Error, Result};

/// The first bytes of a compressed entry.
const MAGIC: [u8; 3] = [0xFF, b'D', b'Z'];
/// The header: the magic, the algorithm, the decompressed length.
const HEADER: usize = MAGIC.len() + 1 + 4;
/// The largest expansion of an LZ4 block: a longer declared length is a lie, refused before
/// anything is allocated.
#[cfg(feature = "lz4")]
const LZ4_MAX_RATIO: usize = 255;

/// A compression algorithm for stored values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// Zstandard at level 3 (feature `zstd`): smaller entries.
    Zstd,
    /// LZ4 (feature `lz4`, the pure-Rust `lz4_flex`): faster, larger entries.
    Lz4,
}

impl Compression {
    /// The configuration name: `zstd` or `lz4`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
        }
    }

    fn id(self) -> u8 {
        match self {
            Compression::Zstd => 1,
            Compression::Lz4 => 2,
        }
    }

    fn from_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(Compression::Zstd),
            2 => Some(Compression::Lz4),
            _ => None,
        }
    }

    fn from_name(name: &str) -> Result<Option<Self>> {
        match name {
            "none" => Ok(None),
            "zstd" => Ok(Some(Compression::Zstd)),
            "lz4" => Ok(Some(Compression::Lz4)),
            other => Err(Error::config(
                "compression",
                format!("unknown compression {other:?}; expected \"zstd\", \"lz4\" or \"none\""),
            )),
        }
    }

    /// Whether this build can compress and decompress with the algorithm (its crate feature).
    pub fn is_available(self) -> bool {
        match self {
            Compression::Zstd => cfg!(feature = "zstd"),
            Compression::Lz4 => cfg!(feature = "lz4"),
        }
    }
}

/// What a codec compresses, and how much it decompresses at most.
///
/// # Examples
///
/// ```
/// use dogpile::codec::{Compression, Compressor};
///
/// let compressor = Compressor::new(Some(Compression::Lz4)).compress_above(16);
/// let text = "a JSON-like document, again and again; ".repeat(40).into_bytes();
/// let stored = compressor.compress(text.clone());
/// assert!(stored.len() < text.len());
/// assert_eq!(Compressor::compressed_with(&stored), Some(Compression::Lz4));
/// assert_eq!(compressor.decompress(&stored)?.as_ref(), &text[..]);
/// // Short values, and entries stored before compression was on, stay as they are.
/// assert_eq!(compressor.decompress(b"short")?.as_ref(), b"short");
/// # Ok::<(), dogpile::BoxError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compressor {
    algorithm: Option<Compression>,
    above: usize,
    limit: usize,
}

impl Default for Compressor {
    /// Writes uncompressed; reads compressed entries up to 64 MiB.
    fn default() -> Self {
        Compressor::new(None)
    }
}

impl Compressor {
    /// The default threshold: entries of up to 1 KiB are stored as they are.
    pub const DEFAULT_ABOVE: usize = 1024;
    /// The default limit on an entry's decompressed length: 64 MiB.
    pub const DEFAULT_LIMIT: usize = 64 * 1024 * 1024;

    /// Compresses with `algorithm` (none: writes uncompressed) the entries longer than
    /// [`DEFAULT_ABOVE`](Self::DEFAULT_ABOVE), and reads compressed entries of up to
    /// [`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT) decompressed. An algorithm whose feature this
    /// build lacks ([`Compression::is_available`]) writes uncompressed; configuration
    /// ([`from_arguments`](Self::from_arguments)) refuses it instead.
    pub fn new(algorithm: Option<Compression>) -> Self {
        Compressor { algorithm, above: Self::DEFAULT_ABOVE, limit: Self::DEFAULT_LIMIT }
    }

    /// Compresses only entries longer than `bytes`.
    #[must_use]
    pub fn compress_above(mut self, bytes: usize) -> Self {
        self.above = bytes;
        self
    }

    /// Refuses, before allocating it, an entry that declares more than `bytes` once
    /// decompressed.
    #[must_use]
    pub fn decompression_limit(mut self, bytes: usize) -> Self {
        self.limit = bytes;
        self
    }

    /// The algorithm entries are written with, if any.
    pub fn algorithm(&self) -> Option<Compression> {
        self.algorithm
    }

    /// From configuration arguments: `compression` (`"zstd"`, `"lz4"` or `"none"`, the
    /// default), `compress_above` (bytes, default 1024) and `max_decompressed_size` (bytes,
    /// default 64 MiB).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the argument whose value is unknown or of the wrong type, or
    /// the algorithm whose crate feature is off.
    pub fn from_arguments(args: &Arguments) -> Result<Self> {
        let algorithm = match args.get_str("compression")? {
            Some(name) => Compression::from_name(name)?,
            None => None,
        };
        if let Some(algorithm) = algorithm.filter(|a| !a.is_available()) {
            let name = algorithm.name();
            return Err(Error::config("compression", format!("{name} needs dogpile's crate feature `{name}`")));
        }
        let bytes = |key: &str, default: usize| -> Result<usize> {
            let value = args.get_u64(key)?.unwrap_or(default as u64);
            usize::try_from(value).map_err(|_| Error::config(key, "too large for this machine"))
        };
        Ok(Compressor {
            algorithm,
            above: bytes("compress_above", Self::DEFAULT_ABOVE)?,
            limit: bytes("max_decompressed_size", Self::DEFAULT_LIMIT)?,
        })
    }

    /// Whether an entry of `length` bytes is one to compress: an algorithm is set, and the
    /// entry is longer than the threshold (and its length fits the header).
    pub fn compresses(&self, length: usize) -> bool {
        self.algorithm.is_some() && length > self.above && u32::try_from(length).is_ok()
    }

    /// `entry` compressed behind the header, when [`compresses`](Self::compresses) says so
    /// and compressing makes it shorter; otherwise `entry` as it is.
    pub fn compress(&self, entry: Vec<u8>) -> Vec<u8> {
        let (Some(algorithm), true) = (self.algorithm, self.compresses(entry.len())) else { return entry };
        let Ok(length) = u32::try_from(entry.len()) else { return entry };
        let mut out = Vec::with_capacity(HEADER + entry.len() / 2);
        out.extend_from_slice(&MAGIC);
        out.push(algorithm.id());
        out.extend_from_slice(&length.to_le_bytes());
        if !compress_into(algorithm, &entry, &mut out) || out.len() >= entry.len() {
            return entry;
        }
        out
    }

    /// The algorithm `stored` was compressed with, if it was.
    pub fn compressed_with(stored: &[u8]) -> Option<Compression> {
        header(stored).and_then(|(id, _)| Compression::from_id(id))
    }

    /// The entry in `stored`: decompressed when it is compressed (whatever this compressor
    /// writes), borrowed as it is otherwise.
    ///
    /// # Errors
    ///
    /// For a compressed entry whose algorithm this build lacks, that declares more than the
    /// limit once decompressed (refused before anything is allocated), or whose bytes do not
    /// decompress to exactly the declared length.
    pub fn decompress<'a>(&self, stored: &'a [u8]) -> Result<Cow<'a, [u8]>, BoxError> {
        let Some((id, length)) = header(stored) else { return Ok(Cow::Borrowed(stored)) };
        let algorithm = Compression::from_id(id).ok_or_else(|| format!("compressed with unknown algorithm {id}"))?;
        let length = usize::try_from(length)?;
        if length > self.limit {
            return Err(format!(
                "the entry declares {length} bytes once decompressed, over the limit of {} (max_decompressed_size)",
                self.limit
            )
            .into());
        }
        let out = decompress(algorithm, &stored[HEADER..], length)?;
        if out.len() != length {
            return Err(format!("the entry decompresses to {} bytes, not the {length} it declares", out.len()).into());
        }
        Ok(Cow::Owned(out))
    }
}

/// The algorithm id and decompressed length in `stored`'s header, if it has one.
fn header(stored: &[u8]) -> Option<(u8, u32)> {
    let (head, _) = stored.split_at_checked(HEADER)?;
    if head[..MAGIC.len()] != MAGIC {
        return None;
    }
    let length = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    Some((head[3], length))
}

/// Appends `entry` compressed to `out`; false when the algorithm is not in this build or fails.
#[cfg_attr(not(any(feature = "zstd", feature = "lz4")), allow(unused_variables))]
fn compress_into(algorithm: Compression, entry: &[u8], out: &mut Vec<u8>) -> bool {
    match algorithm {
        #[cfg(feature = "zstd")]
        Compression::Zstd => match zstd_context::compress(entry) {
            Ok(compressed) => {
                out.extend_from_slice(&compressed);
                true
            }
            Err(_) => false,
        },
        #[cfg(feature = "lz4")]
        Compression::Lz4 => {
            out.extend_from_slice(&lz4_flex::block::compress(entry));
            true
        }
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// `compressed` decompressed, at most `length` bytes (and one more, to tell a longer output).
#[cfg_attr(not(any(feature = "zstd", feature = "lz4")), allow(unused_variables))]
fn decompress(algorithm: Compression, compressed: &[u8], length: usize) -> Result<Vec<u8>, BoxError> {
    match algorithm {
        #[cfg(feature = "zstd")]
        Compression::Zstd => Ok(zstd_context::decompress(compressed, length)?),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => {
            if length > compressed.len().saturating_mul(LZ4_MAX_RATIO) {
                return Err(format!("{} LZ4 bytes cannot hold {length} bytes", compressed.len()).into());
            }
            Ok(lz4_flex::block::decompress(compressed, length)?)
        }
        #[allow(unreachable_patterns)]
        other => {
            let name = other.name();
            Err(format!("the entry is compressed with {name}, and this build has no `{name}` feature").into())
        }
    }
}

/// Each thread's zstd contexts, made once: a context takes longer to make (about 15 µs, its
/// tables) than a 10 KiB entry takes to go through it.
#[cfg(feature = "zstd")]
mod zstd_context {
    use std::cell::RefCell;
    use std::io;

    use zstd::bulk::{Compressor, Decompressor};

    thread_local! {
        static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
        static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
    }

    /// `entry` as one zstd frame, at level 3.
    pub(super) fn compress(entry: &[u8]) -> io::Result<Vec<u8>> {
        COMPRESSOR.with(|cell| match cell.try_borrow_mut() {
            Ok(mut context) => {
                if context.is_none() {
                    *context = Some(Compressor::new(3)?);
                }
                match context.as_mut() {
                    Some(compressor) => compressor.compress(entry),
                    None => zstd::bulk::compress(entry, 3),
                }
            }
            Err(_) => zstd::bulk::compress(entry, 3),
        })
    }

    /// The frames in `compressed`, into a buffer of `length` bytes (the declared length,
    /// within the limit): more output is an error.
    pub(super) fn decompress(compressed: &[u8], length: usize) -> io::Result<Vec<u8>> {
        DECOMPRESSOR.with(|cell| match cell.try_borrow_mut() {
            Ok(mut context) => {
                if context.is_none() {
                    *context = Some(Decompressor::new()?);
                }
                match context.as_mut() {
                    Some(decompressor) => decompressor.decompress(compressed, length),
                    None => zstd::bulk::decompress(compressed, length),
                }
            }
            Err(_) => zstd::bulk::decompress(compressed, length),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(bytes: usize) -> Vec<u8> {
        let mut out = String::from("{\"users\": [");
        let mut i = 0;
        while out.len() < bytes {
            out.push_str(&format!("{{\"id\": {i}, \"name\": \"user {i}\", \"active\": {}}}, ", i % 3 == 0));
            i += 1;
        }
        out.into_bytes()
    }

    fn algorithms() -> Vec<Compression> {
        [Compression::Zstd, Compression::Lz4].into_iter().filter(|a| a.is_available()).collect()
    }

    #[test]
    fn a_compressed_entry_reads_back_and_short_or_old_ones_stay_as_they_are() {
        for algorithm in algorithms() {
            let compressor = Compressor::new(Some(algorithm));
            let long = document(10_000);
            let stored = compressor.compress(long.clone());
            assert!(stored.len() < long.len() / 2, "{algorithm:?}: {} bytes", stored.len());
            assert_eq!(Compressor::compressed_with(&stored), Some(algorithm));
            assert_eq!(compressor.decompress(&stored).unwrap().as_ref(), &long[..]);
            // Any reader takes it, whatever it writes.
            assert_eq!(Compressor::default().decompress(&stored).unwrap().as_ref(), &long[..]);
            let short = document(500);
            assert_eq!(compressor.compress(short.clone()), short);
            assert!(matches!(compressor.decompress(&short).unwrap(), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_it_is_allocated() {
        for algorithm in algorithms() {
            let stored = Compressor::new(Some(algorithm)).compress(document(10_000));
            let mut lying = stored.clone();
            lying[4..8].copy_from_slice(&(1u32 << 30).to_le_bytes());
            let err = Compressor::default().decompress(&lying).unwrap_err().to_string();
            assert!(err.contains("over the limit"), "{err}");
            let small = Compressor::default().decompression_limit(1000);
            assert!(small.decompress(&stored).unwrap_err().to_string().contains("over the limit"));
            // Within the limit, a length other than the one the bytes decompress to.
            lying[4..8].copy_from_slice(&9_000u32.to_le_bytes());
            assert!(Compressor::default().decompress(&lying).is_err());
            // Cut short, or with a byte more.
            assert!(Compressor::default().decompress(&stored[..stored.len() - 1]).is_err());
            assert!(Compressor::default().decompress(&[&stored[..], b"x"].concat()).is_err());
        }
    }

    #[test]
    fn configuration_names_the_bad_argument() {
        let args = Arguments::new().with("compression", "gzip");
        assert!(Compressor::from_arguments(&args).unwrap_err().to_string().contains("compression"));
        let args = Arguments::new().with("compression", "none").with("compress_above", "big");
        assert!(Compressor::from_arguments(&args).unwrap_err().to_string().contains("compress_above"));
        let args = Arguments::new().with("compress_above", 10).with("max_decompressed_size", 1 << 20);
        let compressor = Compressor::from_arguments(&args).unwrap();
        assert_eq!((compressor.algorithm(), compressor.above, compressor.limit), (None, 10, 1 << 20));
    }
}
