//! Where a backend keeps tag invalidations for every process that shares it: the contract
//! between a region's [`invalidate_tags`](crate::Region::invalidate_tags) and a store that
//! outlives the process (Redis), and the news of invalidations made elsewhere.

use std::fmt;
use std::sync::Arc;

use super::BoxFuture;
use crate::error::Result;

/// The last invalidation of a tag: when, and whether it was hard (older tagged values are
/// misses) or soft (they stand in while one caller regenerates them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TagStamp {
    /// Seconds since the Unix epoch.
    pub at: f64,
    /// Hard (a miss) or soft (stale).
    pub hard: bool,
}

impl TagStamp {
    /// The stamp as stored: `hard <at>` or `soft <at>`.
    ///
    /// # Examples
    ///
    /// ```
    /// use dogpile::backend::TagStamp;
    ///
    /// let stamp = TagStamp { at: 1700000000.5, hard: true };
    /// assert_eq!(stamp.encode(), "hard 1700000000.5");
    /// assert_eq!(TagStamp::decode("hard 1700000000.5"), Some(stamp));
    /// assert_eq!(TagStamp::decode("later"), None);
    /// ```
    pub fn encode(self) -> String {
        format!("{} {:?}", if self.hard { "hard" } else { "soft" }, self.at)
    }

    /// A stamp from its stored text; `None` for anything else.
    pub fn decode(text: &str) -> Option<TagStamp> {
        let (kind, at) = text.split_once(' ')?;
        let hard = match kind {
            "hard" => true,
            "soft" => false,
            _ => return None,
        };
        let at: f64 = at.parse().ok()?;
        at.is_finite().then_some(TagStamp { at, hard })
    }
}

/// Told of invalidations that other processes made (see [`TagStore::watch`]).
pub trait TagNews: Send + Sync + 'static {
    /// `tag` was invalidated as `stamp`.
    fn invalidated(&self, tag: &str, stamp: TagStamp);
    /// News may have been missed (a lost subscription): what is known may be out of date.
    fn missed(&self);
}

/// A fleet-wide record of tag invalidations. A backend shared by processes offers one through
/// [`Backend::tag_store`](super::Backend::tag_store); without one, a region keeps its tag
/// invalidations in process.
///
/// Records are kept for `retention` seconds at least (the region treats tagged values older
/// than that as expired, so a record that is gone can no longer matter).
pub trait TagStore: Send + Sync + fmt::Debug + 'static {
    /// The last invalidation of each of `tags`, in order (`None`: never, or not within the
    /// retention); one round trip.
    fn fetch<'a>(&'a self, tags: &'a [String]) -> BoxFuture<'a, Result<Vec<Option<TagStamp>>>>;

    /// Records `stamp` for every one of `tags`, kept `retention` seconds, and tells every
    /// watching process; one round trip.
    fn invalidate<'a>(&'a self, tags: &'a [String], stamp: TagStamp, retention: f64) -> BoxFuture<'a, Result<()>>;

    /// Starts telling `news` of the invalidations other processes make, for as long as it
    /// lives (a weak reference: a dropped region stops the watch).
    fn watch(&self, news: std::sync::Weak<dyn TagNews>);
}

/// A shareable [`TagStore`].
pub type SharedTagStore = Arc<dyn TagStore>;
