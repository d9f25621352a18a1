//! The properties dogpile's parsers of untrusted input keep, one function per fuzz target.
//!
//! Any process that shares a Redis can write any bytes at any key, and the cache reads them
//! back; URLs and configuration come from files and environments. Each target takes arbitrary
//! bytes and panics when a property fails, so that libFuzzer reports it and the corpus replay
//! (`tests/corpus.rs`) fails:
//!
//! - [`decode`]: every known layout (each payload format in each envelope) and `inspect`'s
//!   layout detection;
//! - [`keys`]: hash keys and the key manglers;
//! - [`url`]: `redact_url` and the Redis configuration's `Debug`;
//! - [`config`]: the TOML and flat configuration readers.
//!
//! The campaigns run from `scripts/fuzz` (cargo-fuzz's project is in `fuzz/`); the corpus
//! each target keeps is in `corpus/<target>/`.
//!
//! # Examples
//!
//! ```
//! dogpile_fuzz::decode(br#"{"ct": 1700000000.5, "v": 2}|[1,2]"#);
//! dogpile_fuzz::url(b"redis://user:hunter2@cache:6379/0");
//! ```

mod config;
mod decode;
mod keys;
mod url;

pub use config::config;
pub use decode::decode;
pub use keys::keys;
pub use url::url;

/// A target: arbitrary bytes in, a panic when a property fails.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory and fuzz binary.
pub const TARGETS: &[(&str, Target)] = &[("decode", decode), ("keys", keys), ("url", url), ("config", config)];
