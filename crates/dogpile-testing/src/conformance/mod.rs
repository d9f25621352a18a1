//! The suites, as plain async functions over a [`Fixture`](crate::Fixture).
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
use std::time::Duration;

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
