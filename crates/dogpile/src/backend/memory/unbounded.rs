//! The store of an unbounded memory backend: a hash map behind a read-write lock, whose
//! entries may have a lifetime, reclaimed as writes go.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;

use crate::key::{CacheKey, KeyRef};

/// How many entries each write checks for a passed lifetime: more than the one it adds, so
/// the sweep goes round the whole store while the store grows by one entry per write.
const SWEEP_PER_WRITE: usize = 8;

/// Keys are hashed with foldhash: fast on short keys. Keys come from the application, and the
/// map is in-process, so a DoS-resistant hash buys nothing here.
type Map = IndexMap<CacheKey, Entry, foldhash::fast::RandomState>;

struct Entry {
    value: Bytes,
    /// When the entry's lifetime ends (milliseconds since the store's epoch; `u64::MAX`: never).
    expires_at: u64,
}

pub(super) struct Unbounded {
    map: RwLock<Map>,
    /// The entries' lifetime, if they have one.
    time_to_live: Option<Duration>,
    /// Where lifetimes are counted from (milliseconds since then).
    epoch: Instant,
    /// Where the next write's sweep for passed lifetimes starts.
    sweep_at: AtomicUsize,
}

impl Unbounded {
    pub(super) fn new(time_to_live: Option<Duration>) -> Self {
        Unbounded { map: RwLock::default(), time_to_live, epoch: Instant::now(), sweep_at: AtomicUsize::new(0) }
    }

    pub(super) fn time_to_live(&self) -> Option<Duration> {
        self.time_to_live
    }

    pub(super) fn len(&self) -> usize {
        self.read().len()
    }

    pub(super) fn clear(&self) {
        self.write().clear();
    }

    pub(super) fn get(&self, key: KeyRef<'_>) -> Option<Bytes> {
        self.lookup(&self.read(), key)
    }

    pub(super) fn get_many(&self, keys: &[CacheKey]) -> Vec<Option<Bytes>> {
        let map = self.read();
        keys.iter().map(|key| self.lookup(&map, key.as_key_ref())).collect()
    }

    pub(super) fn insert_many<'a>(&self, items: impl IntoIterator<Item = (&'a CacheKey, Bytes)>) {
        let mut map = self.write();
        for (key, value) in items {
            self.sweep(&mut map);
            let entry = Entry { value, expires_at: self.expires_at() };
            match map.get_mut(key) {
                Some(slot) => *slot = entry,
                None => {
                    map.insert(key.clone(), entry);
                }
            }
        }
    }

    pub(super) fn remove_many<'a>(&self, keys: impl IntoIterator<Item = &'a CacheKey>) {
        let mut map = self.write();
        for key in keys {
            map.swap_remove(key);
        }
    }

    pub(super) fn remove_expired(&self) {
        if self.time_to_live.is_some() {
            let now = self.now();
            self.write().retain(|_, entry| entry.expires_at > now);
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Map> {
        self.map.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Map> {
        self.map.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lookup(&self, map: &Map, key: KeyRef<'_>) -> Option<Bytes> {
        let entry = map.get(&key)?;
        if self.time_to_live.is_some() && entry.expires_at <= self.now() {
            return None;
        }
        Some(entry.value.clone())
    }

    /// Milliseconds since the store's epoch.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// When an entry written now ends.
    fn expires_at(&self) -> u64 {
        match self.time_to_live {
            Some(ttl) => self.now().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
            None => u64::MAX,
        }
    }

    /// Removes the entries past their lifetime among the next few in turn.
    fn sweep(&self, map: &mut Map) {
        if self.time_to_live.is_none() || map.is_empty() {
            return;
        }
        let now = self.now();
        let mut at = self.sweep_at.load(Ordering::Relaxed);
        for _ in 0..SWEEP_PER_WRITE {
            if map.is_empty() {
                break;
            }
            if at >= map.len() {
                at = 0;
            }
            // A removal moves the last entry here: it is checked next.
            match map.get_index(at) {
                Some((_, entry)) if entry.expires_at <= now => {
                    map.swap_remove_index(at);
                }
                _ => at += 1,
            }
        }
        self.sweep_at.store(at, Ordering::Relaxed);
    }
}
