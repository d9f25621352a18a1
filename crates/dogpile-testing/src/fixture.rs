//! What a conformance test runs against.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use dogpile::backend::{Backend, DynBackend, Proxied, ProxyBackend};
use dogpile::codec::Codec;
use dogpile::config::Arguments;
use dogpile::registry;
use dogpile::{Region, RegionBuilder};

/// A backend under test, with what keeps it alive (a server process, say), the codec its
/// regions use, and how it was configured by name (if it was).
pub struct Fixture {
    backend: Arc<dyn DynBackend>,
    codec: Codec,
    configured: Option<(String, Arguments)>,
    _keep: Option<Box<dyn Any + Send + Sync>>,
}

impl Fixture {
    /// A fixture over `backend`, with the default codec.
    pub fn new(backend: impl Backend) -> Self {
        Fixture::from_arc(Arc::new(backend))
    }

    /// A fixture over a backend already behind an `Arc`.
    pub fn from_arc(backend: Arc<dyn DynBackend>) -> Self {
        Fixture { backend, codec: Codec::default(), configured: None, _keep: None }
    }

    /// A fixture over the backend registered as `name`, made from `arguments`.
    ///
    /// # Panics
    ///
    /// When the registry refuses the name or arguments (a broken test setup).
    pub fn configured(name: &str, arguments: Arguments) -> Self {
        let backend = match registry::make_backend(name, &arguments) {
            Ok(backend) => backend,
            Err(err) => panic!("cannot configure backend {name:?}: {err}"),
        };
        Fixture { configured: Some((name.to_owned(), arguments)), ..Fixture::from_arc(backend) }
    }

    /// Regions of this fixture use `codec`.
    #[must_use]
    pub fn with_codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// The fixture with its backend seen through `layer` ([`Proxied`]); regions are then
    /// built over the layer, not by name.
    #[must_use]
    pub fn wrapped(self, layer: impl ProxyBackend) -> Self {
        Fixture { backend: Arc::new(Proxied::new(layer, self.backend)), configured: None, ..self }
    }

    /// Keeps `guard` alive as long as the fixture (for example a running server).
    #[must_use]
    pub fn keep(mut self, guard: impl Any + Send + Sync) -> Self {
        self._keep = Some(Box::new(guard));
        self
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn DynBackend> {
        &self.backend
    }

    /// The codec regions use.
    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// The registry name and arguments, for a fixture made with [`Fixture::configured`].
    pub fn configured_as(&self) -> Option<(&str, &Arguments)> {
        self.configured.as_ref().map(|(n, a)| (n.as_str(), a))
    }

    /// A region builder over this fixture's backend and codec.
    pub fn region_builder(&self) -> RegionBuilder {
        Region::builder().backend_arc(Arc::clone(&self.backend)).codec(self.codec.clone())
    }

    /// A region over this fixture's backend and codec, with `configure` applied.
    ///
    /// # Panics
    ///
    /// When the region cannot be built (a broken test setup).
    pub fn region(&self, configure: impl FnOnce(RegionBuilder) -> RegionBuilder) -> Region {
        match configure(self.region_builder()).build() {
            Ok(region) => region,
            Err(err) => panic!("cannot build region: {err}"),
        }
    }
}

impl<B: Backend> From<B> for Fixture {
    fn from(backend: B) -> Self {
        Fixture::new(backend)
    }
}

impl fmt::Debug for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture")
            .field("backend", &self.backend)
            .field("codec", &self.codec)
            .field("configured", &self.configured)
            .finish_non_exhaustive()
    }
}
