//! Backends by name, and configuration arguments (dogpile's `register_backend`,
//! `configure(name, arguments={...})` and `configure_from_config`).
//!
//! `memory` and `null` are registered from the start (also as `dogpile.cache.memory` and
//! `dogpile.cache.null`); other crates add theirs with [`register_backend`].
//!
//! # Examples
//!
//! ```
//! use dogpile::config::Arguments;
//! use dogpile::registry;
//!
//! let args = Arguments::new().with("capacity", 1_000);
//! let backend = registry::make_backend("memory", &args)?;
//! assert_eq!(backend.name(), "memory");
//! # Ok::<(), dogpile::Error>(())
//! ```

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use crate::config::Arguments;

use crate::backend::{DynBackend, MemoryBackend, NullBackend};
use crate::error::{Error, Result};

/// Makes a backend from its configuration arguments.
pub type BackendFactory = Arc<dyn Fn(&Arguments) -> Result<Arc<dyn DynBackend>> + Send + Sync>;

/// A registered backend: how to make it, and the arguments its name implies.
#[derive(Clone)]
struct Entry {
    factory: BackendFactory,
    defaults: Arguments,
}

fn registry() -> &'static RwLock<HashMap<String, Entry>> {
    static REGISTRY: OnceLock<RwLock<HashMap<String, Entry>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let memory: BackendFactory = Arc::new(|args| Ok(Arc::new(MemoryBackend::from_arguments(args)?)));
        let null: BackendFactory = Arc::new(|_| Ok(Arc::new(NullBackend)));
        let mut map = HashMap::new();
        for name in ["memory", "dogpile.cache.memory"] {
            map.insert(name.to_owned(), Entry { factory: Arc::clone(&memory), defaults: Arguments::new() });
        }
        for name in ["null", "dogpile.cache.null"] {
            map.insert(name.to_owned(), Entry { factory: Arc::clone(&null), defaults: Arguments::new() });
        }
        RwLock::new(map)
    })
}

/// Registers `factory` under `name`, replacing any earlier one.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use dogpile::backend::MemoryBackend;
/// use dogpile::config::Arguments;
/// use dogpile::registry;
///
/// registry::register_backend("my_memory", |_args: &Arguments| Ok(Arc::new(MemoryBackend::default())));
/// assert!(registry::make_backend("my_memory", &Arguments::new()).is_ok());
/// ```
pub fn register_backend<F>(name: &str, factory: F)
where
    F: Fn(&Arguments) -> Result<Arc<dyn DynBackend>> + Send + Sync + 'static,
{
    register_backend_with_defaults(name, Arguments::new(), factory);
}

/// Registers `factory` under `name` with arguments that the name implies (dogpile's backends
/// bring their own serializer; `dogpile.cache.redis` implies `compat = "dogpile-1"`, say).
/// The arguments a region is configured with override them key by key.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use dogpile::backend::MemoryBackend;
/// use dogpile::config::Arguments;
/// use dogpile::registry;
///
/// registry::register_backend_with_defaults("json_memory", Arguments::new().with("serializer", "json"), |args| {
///     Ok(Arc::new(MemoryBackend::from_arguments(args)?))
/// });
/// let region = dogpile::Region::builder().configure("json_memory", Arguments::new()).build()?;
/// assert_eq!(region.codec().format().name(), "json");
/// # Ok::<(), dogpile::Error>(())
/// ```
pub fn register_backend_with_defaults<F>(name: &str, defaults: Arguments, factory: F)
where
    F: Fn(&Arguments) -> Result<Arc<dyn DynBackend>> + Send + Sync + 'static,
{
    let mut map = registry().write().unwrap_or_else(|p| p.into_inner());
    map.insert(name.to_owned(), Entry { factory: Arc::new(factory), defaults });
}

/// The registered backend names, sorted.
pub fn registered_backends() -> Vec<String> {
    let map = registry().read().unwrap_or_else(|p| p.into_inner());
    let mut names: Vec<String> = map.keys().cloned().collect();
    names.sort();
    names
}

fn entry(name: &str) -> Result<Entry> {
    let found = {
        let map = registry().read().unwrap_or_else(|p| p.into_inner());
        map.get(name).cloned()
    };
    found.ok_or_else(|| {
        Error::config("backend", format!("unknown backend {name:?}; registered: {}", registered_backends().join(", ")))
    })
}

/// The arguments a backend registered as `name` is made from: the name's defaults, overridden
/// by `args`.
///
/// # Errors
///
/// [`Error::Config`] for an unknown name (listing the known ones).
pub fn arguments_for(name: &str, args: &Arguments) -> Result<Arguments> {
    // A clone shares what is read with `args`, so that unused keys are told of `args`.
    let mut merged = args.clone();
    for (key, value) in entry(name)?.defaults.iter() {
        merged.insert_missing(key, value);
    }
    Ok(merged)
}

/// Warns, once per backend name and key in this process, of the keys of `args` that nothing
/// read (a typo, or an argument with no meaning here), at `warn` level with the `tracing`
/// feature. [`Arguments::unused_keys`] gives them.
pub(crate) fn warn_unused(name: &str, args: &Arguments) {
    static WARNED: OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> = OnceLock::new();
    let unused = args.unused_keys();
    if unused.is_empty() {
        return;
    }
    let mut warned = WARNED.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    for key in unused {
        if warned.insert(format!("{name}\0{key}")) {
            #[cfg(feature = "tracing")]
            tracing::warn!(
                target: "dogpile",
                backend = name,
                argument = %key,
                "argument `{key}` of backend `{name}` is not used by dogpile-rs and is ignored: a typo?"
            );
        }
    }
}

/// Makes the backend registered as `name` from `args` (over the name's defaults).
///
/// # Errors
///
/// [`Error::Config`] for an unknown name (listing the known ones), or the factory's error.
pub fn make_backend(name: &str, args: &Arguments) -> Result<Arc<dyn DynBackend>> {
    let Entry { factory, defaults } = entry(name)?;
    if defaults.iter().next().is_none() {
        return factory(args);
    }
    factory(&arguments_for(name, args)?)
}
