//! Certificates for TLS tests: [`dogpile_servers::Certificates`], whose failure fails the test.

use std::ops::Deref;

use crate::server::started;

/// A CA and a server certificate signed by it, valid for two days; its methods are those of
/// [`dogpile_servers::Certificates`].
#[derive(Debug)]
pub struct TestCertificates(dogpile_servers::Certificates);

impl TestCertificates {
    /// Makes the CA, the server key and its certificate.
    ///
    /// # Panics
    ///
    /// When `openssl` is missing (with an install hint) or fails.
    pub fn make() -> Self {
        TestCertificates(started(dogpile_servers::Certificates::make()))
    }
}

impl Deref for TestCertificates {
    type Target = dogpile_servers::Certificates;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
