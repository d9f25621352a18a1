//! Tag invalidations shared by every process of a fleet, through Redis (the backends'
//! [`TagStore`]).
//!
//! A tag's last invalidation is kept at `{dogpile:tags}:<tag>` as `hard <time>` or
//! `soft <time>` for the retention the region asks, so every record lives in one cluster slot
//! and one `MGET` reads any set of them. An invalidation is written by a script that keeps the
//! later stamp and announces it on [`CHANNEL`] as `<stamp>\n<tag>\n<tag>...`; each process
//! that watches applies it to the tags it knows, and forgets what it knows each time its
//! subscription is made again (it may have missed news meanwhile).

use std::sync::{Arc, Weak};
use std::time::Duration;

use dogpile::backend::{BoxFuture, TagNews, TagStamp, TagStore};
use dogpile::{CacheKey, Error, Result};
use futures_util::StreamExt;

use crate::store::Store;

/// The channel on which tag invalidations are announced.
pub const CHANNEL: &str = "dogpile:tags-invalidated";

/// How long to wait before subscribing again after a failure.
const RETRY: Duration = Duration::from_millis(200);

/// The record of `tag`.
fn record(tag: &str) -> String {
    format!("{{dogpile:tags}}:{tag}")
}

/// The backends' tag store: records in Redis, news over pub/sub.
pub(crate) struct RedisTags {
    store: Weak<Store>,
    script: redis::Script,
}

impl RedisTags {
    pub(crate) fn new(store: &Arc<Store>) -> Arc<Self> {
        Arc::new(RedisTags { store: Arc::downgrade(store), script: redis::Script::new(include_str!("tags.lua")) })
    }

    fn store(&self) -> Result<Arc<Store>> {
        self.store.upgrade().ok_or_else(|| Error::config("tags", "the backend was dropped"))
    }

    async fn fetch_now(&self, tags: &[String]) -> Result<Vec<Option<TagStamp>>> {
        let store = self.store()?;
        let keys: Vec<String> = tags.iter().map(|t| record(t)).collect();
        let mut conn = store.connection.get().await?;
        let first = keys.first().map(|k| CacheKey::from(k.as_str()));
        let found: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await.map_err(|e| store.fail(e, first.as_ref()))?;
        Ok(found.into_iter().map(|text| text.as_deref().and_then(TagStamp::decode)).collect())
    }

    async fn invalidate_now(&self, tags: &[String], stamp: TagStamp, retention: f64) -> Result<()> {
        let store = self.store()?;
        let mut invocation = self.script.prepare_invoke();
        for tag in tags {
            invocation.key(record(tag));
        }
        let announcement = std::iter::once(stamp.encode()).chain(tags.iter().cloned()).collect::<Vec<_>>().join("\n");
        let retention_ms = (retention * 1000.0).ceil().max(1.0) as u64;
        invocation.arg(stamp.encode()).arg(stamp.at).arg(retention_ms).arg(CHANNEL).arg(announcement);
        let mut conn = store.connection.get().await?;
        let first = tags.first().map(|t| CacheKey::from(record(t)));
        invocation.invoke_async::<i64>(&mut conn).await.map_err(|e| store.fail(e, first.as_ref()))?;
        Ok(())
    }
}

impl TagStore for RedisTags {
    fn fetch<'a>(&'a self, tags: &'a [String]) -> BoxFuture<'a, Result<Vec<Option<TagStamp>>>> {
        Box::pin(self.fetch_now(tags))
    }

    fn invalidate<'a>(&'a self, tags: &'a [String], stamp: TagStamp, retention: f64) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.invalidate_now(tags, stamp, retention))
    }

    fn watch(&self, news: Weak<dyn TagNews>) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(listen(self.store.clone(), news));
        }
    }
}

/// Applies the invalidations other processes announce; after each (re)subscription, tells
/// `news` that some may have been missed.
async fn listen(store: Weak<Store>, news: Weak<dyn TagNews>) {
    loop {
        let Some(current) = store.upgrade() else { return };
        let pubsub = current.connection.pubsub().await;
        drop(current);
        if let Ok(mut pubsub) = pubsub
            && pubsub.subscribe(CHANNEL).await.is_ok()
        {
            let Some(listener) = news.upgrade() else { return };
            listener.missed();
            drop(listener);
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                let Some(listener) = news.upgrade() else { return };
                if let Ok(text) = message.get_payload::<String>() {
                    let mut lines = text.split('\n');
                    if let Some(stamp) = lines.next().and_then(TagStamp::decode) {
                        lines.for_each(|tag| listener.invalidated(tag, stamp));
                    }
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

impl std::fmt::Debug for RedisTags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTags").field("channel", &CHANNEL).finish_non_exhaustive()
    }
}
