//! Region configuration from text: the TOML reader and the flat `key = value` reader give a
//! region or [`Error::Config`], nothing else.

use dogpile::{Error, Region, RegionBuilder};

/// Reads `data` (lossy UTF-8) as TOML text with a `[cache]` table and as flat settings (one
/// `key=value` per line, prefix `cache.`), and builds a region from each that reads: every
/// refusal is a configuration error.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    built(RegionBuilder::from_toml_str(&text, "cache"), &text);
    let settings = text.lines().filter_map(|line| line.split_once('='));
    built(Region::builder_from_config(settings, "cache."), &text);
}

fn built(builder: dogpile::Result<RegionBuilder>, text: &str) {
    let region = builder.and_then(RegionBuilder::build);
    if let Err(err) = region {
        assert!(matches!(err, Error::Config { .. } | Error::Backend { .. }), "{text:?} gave {err:?}");
    }
}
