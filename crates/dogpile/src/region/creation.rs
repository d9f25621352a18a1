//! Running a creator (its timeout, its counters) and encoding what it made for the store.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use super::stats::Count;
use super::{CreateOptions, FailSafe, Region};
use crate::error::{BoxError, Error, Result};
use crate::key::CacheKey;

/// A creator's failure, for `key` when it made one key.
pub(crate) fn creator_error(key: Option<&CacheKey>, source: impl Into<BoxError>) -> Error {
    Error::Creator { key: key.cloned(), source: source.into() }
}

impl Region {
    /// Runs a creator's future, given up on after `timeout` (the future is dropped).
    pub(crate) async fn run_creator<T, Fut, E>(
        &self,
        key: Option<&CacheKey>,
        timeout: Option<Duration>,
        created: Fut,
    ) -> Result<T>
    where
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        self.inner.stats.bump(Count::Create);
        let started = std::time::Instant::now();
        let done = match timeout {
            None => created.await.map_err(|e| creator_error(key, e)),
            Some(after) => match tokio::time::timeout(after, created).await {
                Ok(created) => created.map_err(|e| creator_error(key, e)),
                Err(_) => {
                    self.inner.stats.bump(Count::CreatorTimeout);
                    Err(Error::CreatorTimeout { key: key.cloned(), after })
                }
            },
        };
        self.inner.stats.creation(started.elapsed());
        if let Err(Error::Creator { .. }) = &done {
            self.inner.stats.bump(Count::CreatorError);
        }
        done
    }

    /// Notes a failed regeneration of `key` that fail-safe stood in for (its error goes to
    /// the sink): the key is not tried again for the throttle period.
    pub(crate) fn throttle_after_failure(&self, key: &CacheKey, fail_safe: FailSafe) {
        if !fail_safe.throttle.is_zero() {
            let now = self.inner.clock.now();
            self.inner.throttled.throttle(key, now + fail_safe.throttle.as_secs_f64(), now);
        }
    }

    /// A created value's bytes as stored, stamped now, with the tags `options` give it; an
    /// encoding failure goes to the error sink, not to the caller, who has the value already.
    /// `took`: how long the creator ran, kept under early refresh.
    pub(crate) fn encode_created<T: Serialize>(
        &self,
        key: &CacheKey,
        value: &T,
        took: Option<f64>,
        options: &CreateOptions<T>,
    ) -> Option<Bytes> {
        let tags = options.tags_for(key);
        match self.inner.codec.encode_created_for(key, value, self.inner.clock.now(), took, &tags) {
            Ok(bytes) => Some(Bytes::from(bytes)),
            Err(err) => {
                self.report(&err);
                None
            }
        }
    }

    /// Encodes a created batch for storing (the values `options` lets through), keyed by the
    /// backend's keys; encoding failures go to the sink.
    pub(crate) fn encode_batch<'k, T: Serialize>(
        &self,
        keys: impl Iterator<Item = (&'k CacheKey, &'k CacheKey)>,
        values: &[T],
        options: &CreateOptions<T>,
        now: f64,
        took: Option<f64>,
    ) -> Vec<(CacheKey, Bytes)> {
        let mut to_store = Vec::new();
        for ((key, backend_key), value) in keys.zip(values) {
            if options.wants(value) {
                match self.inner.codec.encode_created_for(key, value, now, took, &options.tags_for(key)) {
                    Ok(bytes) => to_store.push((backend_key.clone(), Bytes::from(bytes))),
                    Err(err) => self.report(&err),
                }
            }
        }
        to_store
    }
}
