//! The suites, as plain async functions over a [`Fixture`].
//!
//! Each function panics (with a message) when the backend does not conform. They follow the
//! groups of dogpile's own test fixtures: backend, region, mutex, stampede, codec; tags; the
//! null backend has its own group.

pub mod backend;
pub mod codec;
pub mod decorator;
pub mod mutex;
pub mod null;
pub mod region;
pub mod stampede;
pub mod tags;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::Fixture;

/// Real-time bound for anything a test waits on, so a broken lock fails instead of hanging.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// Awaits `future`, panicking with `what` if it takes longer than [`PATIENCE`].
pub(crate) async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {PATIENCE:?}: {what}"),
    }
}

pub(crate) use crate::fakes::Boom;

/// One test of a suite, over the fixture it is given.
pub type Suite = fn(Fixture) -> Pin<Box<dyn Future<Output = ()>>>;

/// Runs one stamped test: makes the fixture and runs `test` over it on a runtime of two
/// worker threads (the fixture is made inside it, as some start tasks).
///
/// # Panics
///
/// When the test fails, or no runtime can be started.
#[doc(hidden)]
pub fn run(fixture: fn() -> Fixture, test: Suite) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start a runtime for the test: {e}"));
    runtime.block_on(async move { test(fixture()).await });
}
