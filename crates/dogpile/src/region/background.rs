//! Regeneration in a spawned task that holds the keys' locks while the caller is served the
//! expired value (dogpile's `async_creation_runner`), for one key and for a batch.

use std::future::Future;

use serde::Serialize;

use super::creation::creator_error;
use super::options::Policy;
use super::{CreateOptions, Region};
use crate::error::{BoxError, Error};
use crate::key::CacheKey;
use crate::mutex::KeyGuard;

/// A batch's keys as the spawned task takes them: the key, the backend's key, its lock.
pub(crate) type LockedBatch = Vec<(CacheKey, CacheKey, KeyGuard)>;

impl Region {
    /// Spawns a background regeneration on the current runtime (outside one: an error to the
    /// sink, and the task, with the locks it holds, is dropped).
    pub(crate) fn spawn_task(&self, task: impl Future<Output = ()> + Send + 'static) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(task);
            }
            Err(_) => self.report(&Error::config("runtime", "background regeneration needs a tokio runtime")),
        }
    }

    /// Regenerates `key` in a spawned task that holds `guard`; the value goes to `done` once
    /// stored.
    pub(crate) fn spawn_regeneration<T, F, Fut, E>(
        &self,
        key: CacheKey,
        options: CreateOptions<T>,
        guard: KeyGuard,
        creator: F,
        done: Option<tokio::sync::oneshot::Sender<T>>,
    ) where
        T: Serialize + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let region = self.clone();
        let timeout = Policy::of(&self.inner, &options).creator_timeout;
        let task = async move {
            let started = region.inner.clock.now();
            let created = region.run_creator(Some(&key), timeout, creator()).await;
            let took = region.inner.early_refresh.is_some().then(|| region.inner.clock.now() - started);
            let mut items = Vec::new();
            let mut fresh = None;
            match (created, region.backend_key(&key)) {
                (Ok(value), Ok(backend_key)) => {
                    if options.wants(&value) {
                        items.extend(
                            region.encode_created(&key, &value, took, &options).map(|b| (backend_key.into_owned(), b)),
                        );
                    }
                    fresh = Some(value);
                }
                (Err(err), _) | (_, Err(err)) => region.report(&err),
            }
            // The value and the release in one backend call.
            if let Err(err) = region.store_and_release(items, [(0, guard)], &[&key]).await {
                region.report(&err);
            }
            if let (Some(done), Some(value)) = (done, fresh) {
                let _ = done.send(value);
            }
        };
        self.spawn_task(task);
    }

    /// Regenerates a batch in a spawned task that holds the keys' locks (key, backend key,
    /// guard); the values go to the receiver once stored.
    pub(crate) fn spawn_batch_regeneration<T, F, Fut, E>(
        &self,
        batch: LockedBatch,
        options: CreateOptions<T>,
        creator: F,
    ) -> tokio::sync::oneshot::Receiver<Vec<T>>
    where
        T: Serialize + Send + Sync + 'static,
        F: FnOnce(Vec<CacheKey>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<T>, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let (done, created) = tokio::sync::oneshot::channel();
        let region = self.clone();
        let task = async move {
            let to_create: Vec<CacheKey> = batch.iter().map(|(key, _, _)| key.clone()).collect();
            let timeout = Policy::of(&region.inner, &options).creator_timeout;
            let started = region.inner.clock.now();
            let (created, items) = match region.run_creator(None, timeout, creator(to_create)).await {
                Ok(values) if values.len() == batch.len() => {
                    let now = region.inner.clock.now();
                    let took = region.inner.early_refresh.is_some().then_some(now - started);
                    let keys = batch.iter().map(|(key, backend_key, _)| (key, backend_key));
                    let items = region.encode_batch(keys, &values, &options, now, took);
                    (Some(values), items)
                }
                Ok(values) => {
                    let message = format!("creator returned {} values for {} keys", values.len(), batch.len());
                    region.report(&creator_error(None, message));
                    (None, Vec::new())
                }
                Err(err) => {
                    region.report(&err);
                    (None, Vec::new())
                }
            };
            let (keys, guards): (Vec<CacheKey>, Vec<(usize, KeyGuard)>) =
                batch.into_iter().enumerate().map(|(i, (key, _, guard))| (key, (i, guard))).unzip();
            let keys: Vec<&CacheKey> = keys.iter().collect();
            if let Err(err) = region.store_and_release(items, guards, &keys).await {
                region.report(&err);
            }
            if let Some(values) = created {
                let _ = done.send(values);
            }
        };
        self.spawn_task(task);
        created
    }
}
