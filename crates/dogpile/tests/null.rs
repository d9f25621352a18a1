//! The null backend's own suite.

use dogpile::backend::NullBackend;

dogpile_testing::null_conformance!(null, || NullBackend);
dogpile_testing::null_conformance!(null_configured, || dogpile_testing::Fixture::configured(
    "dogpile.cache.null",
    dogpile::config::Arguments::new()
));
