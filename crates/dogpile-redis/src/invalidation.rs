//! Region-wide invalidation shared by every process of a fleet, through Redis.
//!
//! The last invalidation of a region is kept at `dogpile:invalidated:<region>` as
//! `hard <time>` or `soft <time>` (seconds since the epoch), and announced on the channel
//! [`CHANNEL`] as `<key> <value>`. A process reads the key when it starts and each time its
//! subscription is made again (so it picks up what it missed while disconnected), and applies
//! each announcement at once. The latest time wins, wherever it comes from.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use dogpile::backend::TagStamp as Stamp;
use dogpile::region::{DefaultInvalidation, InvalidationStrategy};
use dogpile::{Error, Result};
use futures_util::StreamExt;
use redis::AsyncCommands;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::backend_error;
use crate::store::Store;

/// The channel on which invalidations are announced.
pub const CHANNEL: &str = "dogpile:region-invalidated";

/// How long to wait before writing again, or subscribing again, after a failure.
const RETRY: Duration = Duration::from_millis(200);

/// A region's [`InvalidationStrategy`] shared through Redis: `region.invalidate(hard)` in one
/// process invalidates the region in every process that uses the same key, at once for those
/// running (announced over pub/sub) and at start for those that start later (kept in Redis).
///
/// Make it with the backend's `shared_invalidation`, and give it to the region builder.
/// Within this process an invalidation applies at once; the write to Redis follows in the
/// background, retried until Redis takes it.
///
/// # Examples
///
/// ```no_run
/// use dogpile::Region;
/// use dogpile_redis::{RedisAdvancedBackend, RedisConfig};
///
/// # async fn run() -> dogpile::Result<()> {
/// let backend = RedisAdvancedBackend::new(RedisConfig::from_url("redis://127.0.0.1:6379/0"))?;
/// let invalidation = backend.shared_invalidation("users").await?;
/// let region = Region::builder().backend(backend).invalidation_strategy(invalidation).build()?;
/// region.invalidate(true); // every process's "users" region, now
/// # Ok(())
/// # }
/// ```
pub struct SharedInvalidation {
    state: Arc<State>,
    writes: mpsc::UnboundedSender<Stamp>,
    tasks: [JoinHandle<()>; 2],
}

struct State {
    key: String,
    local: DefaultInvalidation,
    /// The time of the invalidation applied last.
    latest: Mutex<f64>,
}

impl State {
    /// Applies `stamp` if it is the latest seen.
    fn apply(&self, stamp: Stamp) {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if stamp.at > *latest {
            *latest = stamp.at;
            self.local.invalidate(stamp.hard, stamp.at);
        }
    }

    fn apply_text(&self, text: &str) {
        if let Some(stamp) = Stamp::decode(text) {
            self.apply(stamp);
        }
    }
}

/// The key that keeps `region`'s last invalidation.
fn key_of(region: &str) -> String {
    format!("dogpile:invalidated:{region}")
}

pub(crate) async fn start(store: &Arc<Store>, region: &str) -> Result<SharedInvalidation> {
    if region.is_empty() || region.contains(char::is_whitespace) {
        return Err(Error::config("region", format!("{region:?}: give a name without spaces")));
    }
    store.config.needs_own_connections("shared_invalidation")?;
    let state = Arc::new(State { key: key_of(region), local: DefaultInvalidation::default(), latest: Mutex::new(0.0) });
    let mut conn = store.connection.get().await?;
    let stored: Option<String> = conn.get(&state.key).await.map_err(|e| {
        store.connection.failed(&e);
        backend_error(e, Some(&dogpile::CacheKey::from(state.key.as_str())))
    })?;
    if let Some(text) = stored {
        state.apply_text(&text);
    }
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| Error::config("shared_invalidation", "starts its tasks on a Tokio runtime: call it on one"))?;
    let (writes, pending) = mpsc::unbounded_channel();
    let tasks = [
        runtime.spawn(write(Arc::downgrade(store), state.key.clone(), pending)),
        runtime.spawn(listen(Arc::downgrade(store), Arc::downgrade(&state))),
    ];
    Ok(SharedInvalidation { state, writes, tasks })
}

/// Writes each invalidation made here to Redis and announces it, retrying until it is taken;
/// a newer one replaces one not yet written.
async fn write(store: Weak<Store>, key: String, mut pending: mpsc::UnboundedReceiver<Stamp>) {
    while let Some(mut stamp) = pending.recv().await {
        loop {
            while let Ok(newer) = pending.try_recv() {
                stamp = newer;
            }
            let Some(store) = store.upgrade() else { return };
            let value = stamp.encode();
            let written = match store.connection.get().await {
                Ok(mut conn) => {
                    let mut pipe = redis::pipe();
                    pipe.atomic().set(&key, &value).ignore();
                    pipe.publish(CHANNEL, format!("{key} {value}")).ignore();
                    pipe.query_async::<()>(&mut conn).await.inspect_err(|e| store.connection.failed(e)).is_ok()
                }
                Err(_) => false,
            };
            drop(store);
            if written {
                break;
            }
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// Applies the invalidations announced by other processes; after each (re)subscription,
/// reads the key for what was missed meanwhile.
async fn listen(store: Weak<Store>, state: Weak<State>) {
    loop {
        let Some(current) = store.upgrade() else { return };
        let pubsub = current.connection.pubsub().await;
        if let Ok(mut pubsub) = pubsub
            && pubsub.subscribe(CHANNEL).await.is_ok()
        {
            let Some(shared) = state.upgrade() else { return };
            if let Ok(mut conn) = current.connection.get().await
                && let Ok(Some(text)) = conn.get::<_, Option<String>>(&shared.key).await
            {
                shared.apply_text(&text);
            }
            drop((current, shared));
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                let Some(shared) = state.upgrade() else { return };
                if let Ok(text) = message.get_payload::<String>()
                    && let Some((key, value)) = text.split_once(' ')
                    && key == shared.key
                {
                    shared.apply_text(value);
                }
            }
        } else {
            drop(current);
        }
        tokio::time::sleep(RETRY).await;
    }
}

impl SharedInvalidation {
    /// The Redis key that keeps the region's last invalidation.
    pub fn key(&self) -> &str {
        &self.state.key
    }
}

impl InvalidationStrategy for SharedInvalidation {
    fn invalidate(&self, hard: bool, now: f64) {
        let stamp = Stamp { hard, at: now };
        self.state.apply(stamp);
        // The writer lives as long as this value: sending cannot fail before drop.
        let _ = self.writes.send(stamp);
    }

    fn is_hard_invalidated(&self, ct: f64) -> bool {
        self.state.local.is_hard_invalidated(ct)
    }

    fn is_soft_invalidated(&self, ct: f64) -> bool {
        self.state.local.is_soft_invalidated(ct)
    }

    fn was_soft_invalidated(&self) -> bool {
        self.state.local.was_soft_invalidated()
    }
}

impl Drop for SharedInvalidation {
    fn drop(&mut self) {
        // The writer finishes what is pending (its channel closes); the listener stops.
        self.tasks[1].abort();
    }
}

impl fmt::Debug for SharedInvalidation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedInvalidation").field("key", &self.state.key).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_bad_text_is_ignored() {
        for stamp in [Stamp { hard: true, at: 1_700_000_000.25 }, Stamp { hard: false, at: 12.0 }] {
            assert_eq!(Stamp::decode(&stamp.encode()), Some(stamp));
        }
        for bad in ["", "hard", "hard x", "later 12", "soft NaN", "soft inf"] {
            assert_eq!(Stamp::decode(bad), None, "{bad:?}");
        }
    }
}
