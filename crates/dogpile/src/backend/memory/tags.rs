//! The memory backend's [`TagStore`]: the tag invalidations of the regions over one memory
//! backend, in process, told to each of them at once.

use std::collections::HashMap;
use std::sync::{Mutex, Weak};

use crate::backend::{BoxFuture, TagNews, TagStamp, TagStore};
use crate::error::Result;

/// Records and watchers, shared by the clones of one memory backend.
#[derive(Default)]
pub(super) struct MemoryTags {
    records: Mutex<HashMap<String, TagStamp>>,
    watchers: Mutex<Vec<Weak<dyn TagNews>>>,
}

impl TagStore for MemoryTags {
    fn fetch<'a>(&'a self, tags: &'a [String]) -> BoxFuture<'a, Result<Vec<Option<TagStamp>>>> {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let found = tags.iter().map(|tag| records.get(tag).copied()).collect();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn invalidate<'a>(&'a self, tags: &'a [String], stamp: TagStamp, retention: f64) -> BoxFuture<'a, Result<()>> {
        {
            let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
            // What the retention no longer needs goes, so the records stay bounded by it.
            records.retain(|_, kept| stamp.at - kept.at <= retention);
            for tag in tags {
                let kept = records.entry(tag.clone()).or_insert(stamp);
                if stamp.at > kept.at {
                    *kept = stamp;
                }
            }
        }
        let mut watchers = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        watchers.retain(|watcher| match watcher.upgrade() {
            Some(news) => {
                tags.iter().for_each(|tag| news.invalidated(tag, stamp));
                true
            }
            None => false,
        });
        Box::pin(std::future::ready(Ok(())))
    }

    fn watch(&self, news: Weak<dyn TagNews>) {
        self.watchers.lock().unwrap_or_else(|p| p.into_inner()).push(news);
    }
}

impl std::fmt::Debug for MemoryTags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let records = self.records.lock().map(|r| r.len()).unwrap_or_default();
        f.debug_struct("MemoryTags").field("records", &records).finish_non_exhaustive()
    }
}
