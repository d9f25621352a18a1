//! Lock releases announced over pub/sub, so that a process waiting for another's lock goes on
//! when it is released instead of at its next poll.
//!
//! The release script publishes the lock's name on one channel per lock prefix
//! (`dogpile:lock-released:<prefix>`). A backend subscribes once, on its first wait, with a
//! connection of its own, and wakes the tasks waiting for that name. Polling every
//! `lock_sleep` stays: it covers a lock released by a process that does not publish (a Python
//! process), one that expired, and the time the subscription is down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::store::Store;

/// The waiters of one backend, by lock name, and its subscription.
pub(crate) struct Releases {
    channel: String,
    waiters: Mutex<HashMap<String, Weak<Notify>>>,
    subscriber: Mutex<Option<JoinHandle<()>>>,
}

impl Releases {
    pub(crate) fn new(lock_prefix: &str) -> Self {
        Releases {
            channel: format!("dogpile:lock-released:{lock_prefix}"),
            waiters: Mutex::new(HashMap::new()),
            subscriber: Mutex::new(None),
        }
    }

    /// The channel the release script publishes on.
    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }

    /// A handle that is woken when the lock `name` is released; subscribes first if this
    /// backend has not yet.
    pub(crate) fn listen(self: &Arc<Self>, store: &Arc<Store>, name: &str) -> Arc<Notify> {
        self.subscribe(store);
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(notify) = waiters.get(name).and_then(Weak::upgrade) {
            return notify;
        }
        // Entries whose waiters are all gone are dropped as new ones come.
        if waiters.len() >= 64 {
            waiters.retain(|_, w| w.strong_count() > 0);
        }
        let notify = Arc::new(Notify::new());
        waiters.insert(name.to_owned(), Arc::downgrade(&notify));
        notify
    }

    fn wake(&self, name: &str) {
        let notify = self.waiters.lock().unwrap_or_else(|p| p.into_inner()).get(name).and_then(Weak::upgrade);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    /// Starts the subscriber task once (it lives until the store goes): on the first lock
    /// taken or waited for, so that it is most likely up when a wait begins.
    pub(crate) fn subscribe(self: &Arc<Self>, store: &Arc<Store>) {
        let mut subscriber = self.subscriber.lock().unwrap_or_else(|p| p.into_inner());
        if subscriber.is_some() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let task = listen_for_releases(Arc::downgrade(store), Arc::downgrade(self));
        *subscriber = Some(handle.spawn(task));
    }
}

impl Drop for Releases {
    fn drop(&mut self) {
        if let Some(task) = self.subscriber.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

/// Subscribes and wakes waiters, connecting again (after a pause) whenever the subscription
/// drops; ends with the store.
async fn listen_for_releases(store: Weak<Store>, releases: Weak<Releases>) {
    loop {
        let Some(current) = store.upgrade() else { return };
        let pubsub = current.connection.pubsub().await;
        drop(current);
        let Some(channel) = releases.upgrade().map(|r| r.channel().to_owned()) else { return };
        if let Ok(mut pubsub) = pubsub
            && pubsub.subscribe(&channel).await.is_ok()
        {
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                let Some(current) = releases.upgrade() else { return };
                if let Ok(name) = message.get_payload::<String>() {
                    current.wake(&name);
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
