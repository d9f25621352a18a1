//! Tags: a value written with tags is invalidated by [`Region::invalidate_tags`] of any of
//! them, in every process that shares the backend's [`TagStore`].
//!
//! Each process keeps the last invalidation of the tags it has met (`known`), so a hit on a
//! tagged value costs no round trip; a tag met for the first time costs one fetch, shared by
//! every value of a read. The store tells the process of invalidations made elsewhere
//! ([`TagNews`]); when it may have missed some (a lost subscription), the process fetches
//! what it knew again as it meets it (deciding meanwhile by what it knew). A tagged value older than the retention counts as expired: the
//! store keeps a tag's invalidation that long, so one that is gone can no longer matter.
//! Without a store (an in-process backend), this process's invalidations are the record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

use super::Region;
use crate::backend::{SharedTagStore, TagNews, TagStamp};
use crate::error::{Error, Result};
use crate::value::CachedValue;

/// How many tags a process keeps in memory before it forgets them (fetched again when met).
const CAPACITY: usize = 100_000;

/// What a value's tags say of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No tag of the value was invalidated after it was written.
    Clean,
    /// A soft invalidation came after it: it stands in while one caller regenerates it.
    Soft,
    /// A hard invalidation came after it, or it outlived the retention: a miss.
    Hard,
    /// A tag was never met: fetch it first.
    Unknown,
}

/// What a process knows of a tag: its last invalidation, and the generation of the news it
/// was fetched under (an older generation is fetched again when met).
#[derive(Debug, Clone, Copy)]
struct Known {
    stamp: Option<TagStamp>,
    generation: u64,
}

/// The tag invalidations a region knows, and where they are kept.
pub(crate) struct Tags {
    known: RwLock<HashMap<String, Known>>,
    store: Option<SharedTagStore>,
    retention: f64,
    watching: AtomicBool,
    /// Moves on each time news may have been missed; starts at 1 (0: never fetched).
    generation: AtomicU64,
}

impl Tags {
    pub(crate) fn new(store: Option<SharedTagStore>, retention: f64) -> Arc<Self> {
        Arc::new(Tags {
            known: RwLock::default(),
            store,
            retention,
            watching: AtomicBool::new(false),
            generation: AtomicU64::new(1),
        })
    }

    /// What `tags` say of a value created at `ct`, at the time `now` reads (only for a value
    /// with tags: an untagged hit reads no clock here).
    pub(crate) fn verdict(&self, tags: &[String], ct: f64, now: impl FnOnce() -> f64) -> Verdict {
        if tags.is_empty() {
            return Verdict::Clean;
        }
        if now() - ct > self.retention {
            return Verdict::Hard;
        }
        let known = self.known.read().unwrap_or_else(|p| p.into_inner());
        let mut verdict = Verdict::Clean;
        for tag in tags {
            match known.get(tag.as_str()).map(|k| k.stamp) {
                Some(Some(stamp)) if ct < stamp.at && stamp.hard => return Verdict::Hard,
                Some(Some(stamp)) if ct < stamp.at => verdict = Verdict::Soft,
                Some(_) => {}
                // In process, a tag never invalidated here has no invalidation.
                None if self.store.is_none() => {}
                None => return Verdict::Unknown,
            }
        }
        verdict
    }

    /// The tags among `tags` that this process has not met (none without a store).
    fn unknown<'t>(&self, tags: impl IntoIterator<Item = &'t String>) -> Vec<String> {
        let mut tags = tags.into_iter().peekable();
        if self.store.is_none() || tags.peek().is_none() {
            return Vec::new();
        }
        let known = self.known.read().unwrap_or_else(|p| p.into_inner());
        let generation = self.generation.load(Ordering::Acquire);
        let current = |t: &&String| known.get(t.as_str()).is_some_and(|k| k.generation == generation);
        let mut unknown: Vec<String> = tags.filter(|t| !current(t)).cloned().collect();
        unknown.sort_unstable();
        unknown.dedup();
        unknown
    }

    /// Fetches `unknown` tags (at least one), in one round trip.
    async fn learn(self: &Arc<Self>, unknown: Vec<String>) -> Result<()> {
        let Some(store) = &self.store else { return Ok(()) };
        self.watch();
        // News missed during the fetch leaves what it brings to be fetched again.
        let generation = self.generation.load(Ordering::Acquire);
        let stamps = store.fetch(&unknown).await?;
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        make_room(&mut known, unknown.len());
        for (tag, stamp) in unknown.into_iter().zip(stamps) {
            // News that came during the fetch is as new as the fetch, or newer.
            let entry = known.entry(tag).or_insert(Known { stamp: None, generation });
            *entry = Known { stamp: latest(entry.stamp, stamp), generation };
        }
        Ok(())
    }

    /// Records `stamp` for `tags` here at once, then in the store.
    pub(crate) async fn invalidate(self: &Arc<Self>, tags: &[String], stamp: TagStamp) -> Result<()> {
        {
            let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
            let now = stamp.at;
            if self.store.is_none() {
                // The record itself: only what the retention no longer needs may go.
                known.retain(|_, k| k.stamp.is_some_and(|s| now - s.at <= self.retention));
            } else {
                make_room(&mut known, tags.len());
            }
            for tag in tags {
                // Not a fetch: the store may know a later stamp, so it is fetched when met.
                let entry = known.entry(tag.clone()).or_insert(Known { stamp: None, generation: 0 });
                entry.stamp = latest(entry.stamp, Some(stamp));
            }
        }
        match &self.store {
            Some(store) => {
                self.watch();
                store.invalidate(tags, stamp, self.retention).await
            }
            None => Ok(()),
        }
    }

    /// Starts the store's news of other processes' invalidations, once.
    fn watch(self: &Arc<Self>) {
        if let Some(store) = &self.store
            && !self.watching.swap(true, Ordering::AcqRel)
        {
            let news: Arc<dyn TagNews> = Arc::clone(self) as Arc<dyn TagNews>;
            store.watch(Arc::downgrade(&news) as Weak<dyn TagNews>);
        }
    }
}

/// The later of two stamps.
fn latest(a: Option<TagStamp>, b: Option<TagStamp>) -> Option<TagStamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.at > a.at { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Forgets every tag met when `more` would pass the capacity (they are fetched again).
fn make_room(known: &mut HashMap<String, Known>, more: usize) {
    if known.len() + more > CAPACITY {
        known.clear();
    }
}

impl TagNews for Tags {
    fn invalidated(&self, tag: &str, stamp: TagStamp) {
        // Kept even for a tag not met yet: a fetch of it in flight may bring an older stamp.
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        if !known.contains_key(tag) {
            make_room(&mut known, 1);
        }
        let entry = known.entry(tag.to_owned()).or_insert(Known { stamp: None, generation: 0 });
        entry.stamp = latest(entry.stamp, Some(stamp));
    }

    fn missed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Tags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known = self.known.read().map(|k| k.len()).unwrap_or_default();
        f.debug_struct("Tags")
            .field("store", &self.store)
            .field("retention", &self.retention)
            .field("known", &known)
            .finish()
    }
}

impl Region {
    /// Invalidates every value written with any of `tags` before now, in every process that
    /// shares the backend (through its [`TagStore`](crate::backend::TagStore); in this process
    /// alone on an in-process backend). Hard: they become misses. Soft: they become stale,
    /// regenerated by one caller while the others get them (for calls with an expiration
    /// time; without one they are misses). One round trip.
    ///
    /// A process that already met a tag learns of its invalidation at once (the store's
    /// news); one that meets it later reads it from the store. An invalidation is kept for the
    /// [tag retention](crate::RegionBuilder::tag_retention), which tagged values cannot
    /// outlive. Times are the processes' clocks: a value written by a process whose clock runs
    /// ahead of the invalidating one's by more than the time between the write and the
    /// invalidation survives it.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::region::SetOptions;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> dogpile::Result<()> {
    /// let region = dogpile::Region::builder().build()?;
    /// region.set_with("user:42:name", &"Ada", SetOptions::new().tags(["user:42"])).await?;
    /// region.set_with("user:7:name", &"Grace", SetOptions::new().tags(["user:7"])).await?;
    /// region.invalidate_tags(["user:42"], true).await?;
    /// assert_eq!(region.get::<String>("user:42:name").await?, None);
    /// assert_eq!(region.get::<String>("user:7:name").await?, Some("Grace".into()));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The store's error (the invalidation holds in this process regardless);
    /// [`Error::Config`] for an empty tag.
    pub async fn invalidate_tags<S: Into<String>>(&self, tags: impl IntoIterator<Item = S>, hard: bool) -> Result<()> {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        if tags.iter().any(String::is_empty) {
            return Err(Error::config("tags", "a tag is a non-empty string"));
        }
        if tags.is_empty() {
            return Ok(());
        }
        let stamp = TagStamp { at: self.inner.clock.now(), hard };
        self.inner.tags.invalidate(&tags, stamp).await
    }

    /// Learns the invalidations of the tags of `values` this process has not met: one round
    /// trip for all of them, none when every tag is known.
    pub(crate) async fn learn_tags<T>(&self, values: &[Option<CachedValue<T>>]) -> Result<()> {
        let tags = &self.inner.tags;
        let unknown = tags.unknown(values.iter().flatten().flat_map(|value| value.metadata.tags.iter()));
        if unknown.is_empty() {
            return Ok(());
        }
        // Boxed: a tag is learnt once, and every read's future would otherwise carry the
        // state of the fetch.
        Box::pin(tags.learn(unknown)).await
    }
}
