//! Configuration arguments: the key/value settings that the [registry](crate::registry) hands
//! to a backend's factory and that every backend and codec reads (dogpile's
//! `arguments={...}`), their values, and [`redact_url`] for showing a URL without its
//! secrets.
//!
//! # Examples
//!
//! ```
//! use dogpile::config::Arguments;
//!
//! let args = Arguments::new().with("capacity", 1_000).with("url", "redis://:hunter2@cache:6379/0");
//! assert_eq!(args.get_u64("capacity")?, Some(1_000));
//! assert!(!format!("{args:?}").contains("hunter2"));
//! # Ok::<(), dogpile::Error>(())
//! ```

mod arguments;
mod redact;
mod value;

pub use arguments::Arguments;
pub(crate) use arguments::duration_text;
pub use redact::{UNPARSABLE_URL, redact_url};
pub use value::ConfigValue;
