//! The distributed dogpile lock: a token in a Redis key, as redis-py's `Lock` keeps it.
//!
//! Acquire is `SET name token NX PX timeout`; release and extend run a script that acts only
//! if the key still holds this holder's token, so a holder never frees a lock that expired and
//! was taken by someone else. While the creator runs, a background task extends the lock every
//! third of its timeout. Python processes using redis-py's lock with the same names and
//! prefix exclude Rust processes and the other way round.
//!
//! Within one process the region takes its in-process lock first, so only one task per key
//! polls Redis; the others wait locally.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dogpile::backend::{BackendMutex, BoxFuture};
use dogpile::{CacheKey, Error, Result};
use tokio::task::JoinHandle;

mod batch;
mod notify;

use crate::config::LockLostPolicy;
use crate::error::{is_no_script, is_refusing_writes};
use crate::store::Store;
use notify::Releases;

/// The distributed lock of one backend: the store it talks through, its scripts, and the
/// release notices its waiters listen to.
pub(crate) struct Locks {
    pub(crate) store: Arc<Store>,
    scripts: LockScripts,
    releases: Arc<Releases>,
}

impl Locks {
    pub(crate) fn new(store: Arc<Store>) -> Arc<Self> {
        let releases = Arc::new(Releases::new(&store.config.lock.prefix));
        Arc::new(Locks { store, scripts: LockScripts::new(), releases })
    }

    /// The name of `key`'s lock in Redis.
    fn name(&self, key: &CacheKey) -> String {
        format!("{}{}", self.store.config.lock.prefix, key.lock_name())
    }

    /// The mutex of `key`, if the backend takes a distributed lock.
    pub(crate) fn mutex(self: &Arc<Self>, key: &CacheKey) -> Option<Arc<dyn BackendMutex>> {
        if !self.store.config.lock.distributed {
            return None;
        }
        self.releases.subscribe(&self.store);
        Some(Arc::new(RedisMutex::new(Arc::clone(self), self.name(key), key.clone())))
    }
}

/// The release and extend scripts (loaded once per backend; EVALSHA with automatic load).
struct LockScripts {
    release: redis::Script,
    extend: redis::Script,
}

impl LockScripts {
    fn new() -> Self {
        LockScripts {
            release: redis::Script::new(include_str!("release.lua")),
            extend: redis::Script::new(include_str!("extend.lua")),
        }
    }
}

/// Tokens sent with `SET NX` whose outcome is not known yet (one lock's, or a batch's).
/// Dropped armed (the caller went away, or the round trip failed without an answer), each is
/// released in the background once the server answers.
struct Pending<'a> {
    locks: &'a Arc<Locks>,
    names: &'a [String],
    tokens: &'a [String],
}

impl<'a> Pending<'a> {
    fn new(locks: &'a Arc<Locks>, names: &'a [String], tokens: &'a [String]) -> Self {
        Pending { locks, names, tokens }
    }

    /// The outcome is known: nothing to settle.
    fn disarm(mut self) {
        self.tokens = &[];
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        for (name, token) in self.names.iter().zip(self.tokens) {
            settle(Arc::clone(self.locks), name.clone(), token.clone(), Unsettled::Acquisition);
        }
    }
}

/// True when a command failed without a reply: it may still have run, or run later.
fn outcome_unknown(err: &redis::RedisError) -> bool {
    err.is_timeout() || err.is_io_error() || err.is_connection_dropped() || err.is_unrecoverable_error()
}

/// The commands that release `token` of the lock `name` and announce the release on the
/// backend's channel; the first answers 1 when the token was there and is gone. On a server
/// with `DELIFEQ` (Valkey 9) that command and a `PUBLISH`, with no script (the release is then
/// announced even when the token was gone already: waiters look once more); elsewhere the
/// release script.
fn release_cmds(locks: &Locks, name: &str, token: &str, delifeq: bool) -> Vec<redis::Cmd> {
    if delifeq {
        let mut delete = redis::cmd("DELIFEQ");
        delete.arg(name).arg(token);
        let mut announce = redis::cmd("PUBLISH");
        announce.arg(locks.releases.channel()).arg(name);
        vec![delete, announce]
    } else {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(locks.scripts.release.get_hash()).arg(1).arg(name).arg(token).arg(locks.releases.channel());
        vec![cmd]
    }
}

/// Releases `token` of the lock `name` on `conn`: without a script where the server has
/// `DELIFEQ`, else with the release script (loaded if the server lost it). 1 when the token
/// was there and is gone.
async fn release_token(locks: &Locks, conn: &mut crate::connection::Conn, name: &str, token: &str) -> RedisResult<i64> {
    // A server that cannot be asked takes the script, which fails as the round trip does.
    if locks.store.has_delifeq().await.unwrap_or(false) {
        let mut pipe = redis::pipe();
        for cmd in release_cmds(locks, name, token, true) {
            pipe.add_command(cmd);
        }
        let (released, _announced): (i64, i64) = pipe.query_async(conn).await?;
        return Ok(released);
    }
    locks.scripts.release.key(name).arg(token).arg(locks.releases.channel()).invoke_async(conn).await
}

/// Settles an acquisition whose outcome is unknown: releases `token` (compare-and-delete) once
/// the server answers, and keeps checking until the lock would have expired by itself, since a
/// paused server may run the queued `SET` later. So a lock no live caller holds never stays
/// longer than that (a lock without a timeout: checked for a minute).
///
/// For a [`Unsettled::Release`] whose reply was lost, any answer settles it.
fn settle(locks: Arc<Locks>, name: String, token: String, what: Unsettled) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let lifetime = locks.store.config.lock.timeout.unwrap_or(Duration::from_secs(60));
    let give_up = Instant::now() + lifetime + Duration::from_secs(1);
    handle.spawn(async move {
        let mut pause = Duration::from_millis(50);
        while Instant::now() < give_up {
            tokio::time::sleep(pause).await;
            if let Ok(mut conn) = locks.store.connection.get().await {
                match release_token(&locks, &mut conn, &name, &token).await {
                    Ok(1) => return,
                    Ok(_) if what == Unsettled::Release => return,
                    _ => {}
                }
            }
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    });
}

/// What was sent without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unsettled {
    /// A `SET NX`, which a paused server may still run later.
    Acquisition,
    /// A release, which ran or did not.
    Release,
}

/// What one `SET NX` found.
enum Attempt {
    Taken,
    HeldElsewhere,
    WritesRefused,
}

/// True for the replies of a server that refuses every write: OOM under `noeviction`, a
/// read-only replica, a failed background save, too few replicas.
fn refuses_writes(err: &redis::RedisError) -> bool {
    err.code().is_some_and(is_refusing_writes)
}

/// A lock held by this object: `token` is `None` when the server refused writes and only the
/// in-process lock excludes.
struct Held {
    token: Option<String>,
    lost: Arc<AtomicBool>,
    keepalive: Option<JoinHandle<()>>,
}

/// The distributed mutex of one key.
pub(crate) struct RedisMutex {
    locks: Arc<Locks>,
    name: String,
    key: CacheKey,
    held: Mutex<Option<Held>>,
}

fn new_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let a = RandomState::new().hash_one((std::process::id(), nanos, n));
    let b = RandomState::new().hash_one((n, a, nanos));
    format!("{a:016x}{b:016x}")
}

impl RedisMutex {
    fn new(locks: Arc<Locks>, name: String, key: CacheKey) -> Self {
        RedisMutex { locks, name, key, held: Mutex::new(None) }
    }

    /// A mutex already taken with `token` (by a batch of `SET NX`); `None` when the server
    /// refused writes and only the in-process lock excludes.
    fn taken(locks: Arc<Locks>, name: String, key: CacheKey, token: Option<String>) -> Self {
        let mutex = RedisMutex::new(locks, name, key);
        let lost = Arc::new(AtomicBool::new(false));
        let keepalive = token.as_deref().and_then(|token| mutex.spawn_keepalive(token, &lost));
        *mutex.held() = Some(Held { token, lost, keepalive });
        mutex
    }

    /// Gives up holding, without telling the server: the caller releases the token (for
    /// example with others in one round trip) and reports with [`RedisMutex::after_release`].
    fn take_held(&self) -> Option<Held> {
        let held = self.held().take()?;
        if let Some(keepalive) = &held.keepalive {
            keepalive.abort();
        }
        Some(held)
    }

    /// The lock's key name in Redis.
    fn name(&self) -> &str {
        &self.name
    }

    /// Whether this mutex is one of `locks`'.
    fn belongs_to(&self, locks: &Arc<Locks>) -> bool {
        Arc::ptr_eq(&self.locks, locks)
    }

    fn store(&self) -> &Store {
        &self.locks.store
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn try_once(&self, token: &[String; 1]) -> Result<Attempt> {
        let mut conn = self.store().connection.get().await?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(&self.name).arg(&token[0]).arg("NX");
        if let Some(timeout) = self.store().config.lock.timeout {
            cmd.arg("PX").arg(millis(timeout));
        }
        // Until the server answers, the SET may have taken the lock or may yet take it (a
        // timeout while the server is paused, a dropped connection, a cancelled caller).
        let pending = Pending::new(&self.locks, std::slice::from_ref(&self.name), token);
        let reply = cmd.query_async::<Option<String>>(&mut conn).await;
        if !matches!(&reply, Err(err) if outcome_unknown(err)) {
            pending.disarm();
        }
        match reply {
            Ok(reply) => Ok(if reply.is_some() { Attempt::Taken } else { Attempt::HeldElsewhere }),
            // The server refuses writes (out of memory, a read-only replica, a failed save):
            // no process can take a lock there, and none can store a value either. The
            // in-process lock the region holds is the lock; the caller creates the value as
            // without the distributed lock, and the failed store goes to the error sink.
            Err(err) if refuses_writes(&err) => Ok(Attempt::WritesRefused),
            Err(err) => Err(self.error(err)),
        }
    }

    fn error(&self, err: redis::RedisError) -> Error {
        self.store().fail(err, Some(&self.key))
    }

    async fn acquire_inner(&self, wait: bool) -> Result<bool> {
        let config = &self.store().config;
        let token = [new_token()];
        let deadline = config.lock.blocking_timeout.map(|t| Instant::now() + t);
        let released =
            (wait && config.lock.blocking).then(|| self.locks.releases.listen(&self.locks.store, &self.name));
        loop {
            // Listening before trying: a release between the try and the pause still wakes.
            let notified = released.as_ref().map(|r| r.notified());
            tokio::pin!(notified);
            if let Some(notified) = notified.as_mut().as_pin_mut() {
                notified.enable();
            }
            match self.try_once(&token).await? {
                Attempt::Taken => {
                    let [token] = token;
                    let lost = Arc::new(AtomicBool::new(false));
                    let keepalive = self.spawn_keepalive(&token, &lost);
                    *self.held() = Some(Held { token: Some(token), lost, keepalive });
                    return Ok(true);
                }
                Attempt::WritesRefused => {
                    let lost = Arc::new(AtomicBool::new(false));
                    *self.held() = Some(Held { token: None, lost, keepalive: None });
                    return Ok(true);
                }
                Attempt::HeldElsewhere => {}
            }
            let (Some(notified), Some(pause)) = (notified.as_pin_mut(), self.next_pause(deadline)) else {
                return Ok(false);
            };
            let _ = pause_or_release(notified, pause).await;
        }
    }

    /// The pause before the next look at the lock: `lock_sleep`, or what is left before
    /// `deadline`; `None` once it has passed.
    fn next_pause(&self, deadline: Option<Instant>) -> Option<Duration> {
        let sleep = self.store().config.lock.sleep;
        let pause = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                sleep.min(left)
            }
            None => sleep,
        };
        Some(pause.max(Duration::from_millis(1)))
    }

    fn spawn_keepalive(&self, token: &str, lost: &Arc<AtomicBool>) -> Option<JoinHandle<()>> {
        let config = &self.store().config;
        let timeout = config.lock.timeout.filter(|_| config.lock.extend)?;
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let (locks, name, token, lost) =
            (Arc::clone(&self.locks), self.name.clone(), token.to_owned(), Arc::clone(lost));
        let every = (timeout / 3).max(Duration::from_millis(10));
        Some(handle.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Ok(mut conn) = locks.store.connection.get().await else { continue };
                let extended: RedisResult<i64> =
                    locks.scripts.extend.key(&name).arg(&token).arg(millis(timeout)).invoke_async(&mut conn).await;
                if let Ok(0) = extended {
                    lost.store(true, Ordering::SeqCst);
                    return;
                }
            }
        }))
    }

    async fn release_inner(&self) -> Result<()> {
        let Some(held) = self.take_held() else {
            return Ok(());
        };
        self.release_held(held).await
    }

    /// Releases the token of `held` on the server (see [`release_token`]).
    async fn release_held(&self, held: Held) -> Result<()> {
        let Some(token) = &held.token else {
            return Ok(());
        };
        // A release that did not reach the server, or whose reply was lost, leaves the lock
        // to no one: it is settled in the background, like an acquisition of unknown outcome.
        let mut conn = match self.store().connection.get().await {
            Ok(conn) => conn,
            Err(err) => {
                settle(Arc::clone(&self.locks), self.name.clone(), token.clone(), Unsettled::Release);
                return Err(err);
            }
        };
        let released = match release_token(&self.locks, &mut conn, &self.name, token).await {
            Ok(released) => released,
            Err(err) => {
                if outcome_unknown(&err) {
                    settle(Arc::clone(&self.locks), self.name.clone(), token.clone(), Unsettled::Release);
                }
                return Err(self.error(err));
            }
        };
        self.after_release(released, &held)
    }

    /// The outcome of a release whose script answered `released` (1: this holder's token was
    /// there and is gone): a lock that expired or was taken over meanwhile goes to the
    /// lock-lost policy.
    fn after_release(&self, released: i64, held: &Held) -> Result<()> {
        if released == 1 && !held.lost.load(Ordering::SeqCst) {
            return Ok(());
        }
        #[cfg(feature = "tracing")]
        tracing::warn!(
            target: "dogpile",
            backend = self.store().backend,
            // The lock's key may carry user data: hashed, as regions log keys by default.
            lock = &dogpile::sha1_hex(&self.name)[..16],
            "lock lost before its release: it expired or was taken over while its holder was creating the value"
        );
        #[cfg(feature = "metrics")]
        metrics::counter!(dogpile::metrics::LOCKS_LOST, dogpile::metrics::BACKEND => self.store().backend).increment(1);
        match &self.store().config.lock.lost {
            LockLostPolicy::Error => Err(Error::LockLost { key: Some(self.key.clone()) }),
            LockLostPolicy::Callback(f) => {
                f(&self.name);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

type RedisResult<T> = redis::RedisResult<T>;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl BackendMutex for RedisMutex {
    fn acquire(&self, wait: bool) -> BoxFuture<'_, Result<bool>> {
        Box::pin(self.acquire_inner(wait))
    }

    fn release(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.release_inner())
    }

    fn locked(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(self.is_locked())
    }

    fn owned(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(self.is_owned())
    }

    fn wait_unlocked(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(self.wait_unlocked_inner())
    }
}

impl RedisMutex {
    /// Whether the lock key holds this object's token (or, where the server refused writes,
    /// whether this object holds the in-process stand-in).
    async fn is_owned(&self) -> Result<bool> {
        let token = match self.held().as_ref() {
            None => return Ok(false),
            Some(Held { token: None, .. }) => return Ok(true),
            Some(Held { token: Some(token), .. }) => token.clone(),
        };
        let mut conn = self.store().connection.get().await?;
        let current: Option<String> =
            redis::cmd("GET").arg(&self.name).query_async(&mut conn).await.map_err(|e| self.error(e))?;
        Ok(current.as_deref() == Some(token.as_str()))
    }

    async fn is_locked(&self) -> Result<bool> {
        let mut conn = self.store().connection.get().await?;
        let exists: bool =
            redis::cmd("EXISTS").arg(&self.name).query_async(&mut conn).await.map_err(|e| self.error(e))?;
        Ok(exists)
    }

    /// Looks at the lock key every `lock_sleep`, and at once when a release is announced,
    /// until it is gone (true), for at most `lock_blocking_timeout` (false).
    async fn wait_unlocked_inner(&self) -> Result<bool> {
        let config = &self.store().config;
        if !config.lock.blocking {
            return Ok(false);
        }
        let deadline = config.lock.blocking_timeout.map(|t| Instant::now() + t);
        let released = self.locks.releases.listen(&self.locks.store, &self.name);
        loop {
            // Listening before looking: a release between the look and the pause still wakes.
            let notified = released.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.is_locked().await? {
                return Ok(true);
            }
            let Some(pause) = self.next_pause(deadline) else {
                return Ok(false);
            };
            // An announced release needs no second look.
            if pause_or_release(notified, pause).await {
                return Ok(true);
            }
        }
    }
}

/// Sleeps `pause`, or less if the release of the lock is announced meanwhile; true then.
async fn pause_or_release(notified: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>, pause: Duration) -> bool {
    let sleep = tokio::time::sleep(pause);
    tokio::pin!(sleep);
    matches!(futures_util::future::select(notified, sleep).await, futures_util::future::Either::Left(_))
}

impl Drop for RedisMutex {
    fn drop(&mut self) {
        if let Some(held) = self.held().take()
            && let Some(keepalive) = held.keepalive
        {
            keepalive.abort();
        }
    }
}

impl fmt::Debug for RedisMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisMutex").field("name", &self.name).field("held", &self.held().is_some()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique() {
        let tokens: std::collections::HashSet<String> = (0..10_000).map(|_| new_token()).collect();
        assert_eq!(tokens.len(), 10_000);
        assert!(tokens.iter().all(|t| t.len() == 32));
    }
}
