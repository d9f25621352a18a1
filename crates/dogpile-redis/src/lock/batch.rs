//! Many keys' dogpile locks, one round trip each way.
//!
//! `get_or_create_multi` takes the locks of the keys it must create with one pipeline of
//! `SET <lock> <token> NX PX`, each followed by the read of its key, so that the value is read
//! under the lock in the same round trip. On a cluster the reads go in a second round trip: a
//! lock and its key may live on different nodes, whose pipelines run concurrently. The created
//! values and the releases then go in one more pipeline, through the store's write protocol,
//! writes first. The locks are the same keys and tokens as the single-key lock's, so every
//! holder, Rust or Python, excludes the others as before.

use std::sync::Arc;

use dogpile::backend::{BackendMutex, Locked};
use dogpile::{BackendErrorKind, Bytes, CacheKey, Error, Result};
use redis::RedisResult;

use super::{
    Held, Locks, Pending, RedisMutex, Unsettled, is_no_script, millis, new_token, outcome_unknown, refuses_writes,
    release_cmds, settle,
};
use crate::store::{Store, Wrote, split};
use crate::topology::Commands;

/// What one key's `SET NX` of a batch found.
enum Take {
    /// The lock is ours, with this token.
    Token(String),
    /// The server refuses writes: the in-process lock is the lock, as for a single key.
    WritesRefused,
    /// Another holder has it (or the batch failed before this key's answer).
    Busy,
}

impl Take {
    fn is_ours(&self) -> bool {
        !matches!(self, Take::Busy)
    }
}

/// A lock of this backend whose release goes in the write pipeline: its position among the
/// mutexes given, the mutex, what it held, and its token.
type Ours<'m> = (usize, &'m RedisMutex, Held, String);

impl Locks {
    /// Tries each key's lock once, reading each key under its lock, in one round trip (two on
    /// a cluster). See [`dogpile::backend::Backend::try_lock_multi`].
    pub(crate) async fn try_lock_multi(self: &Arc<Self>, keys: &[CacheKey]) -> Result<Vec<Option<Locked>>> {
        let store = &self.store;
        split(keys.iter())?;
        if !store.config.lock.distributed {
            let values = store.get_multi(keys).await?;
            return Ok(values.into_iter().map(|value| Some(Locked::new(None, value))).collect());
        }
        let names: Vec<String> = keys.iter().map(|k| self.name(k)).collect();
        let tokens: Vec<String> = keys.iter().map(|_| new_token()).collect();
        let read_along = store.topology().one_pipeline();
        let commands = self.lock_commands(keys, &names, &tokens, read_along)?;
        let pending = Pending::new(self, &names, &tokens);
        let replies = store.run_each(commands).await?;
        pending.disarm();

        let Taken { takes, mut values, failure } = read_takes(replies, &tokens, read_along);
        if !read_along && failure.is_none() {
            let taken: Vec<bool> = takes.iter().map(Take::is_ours).collect();
            if let Err(err) = read_under_locks(store, keys, &taken, &mut values).await {
                self.give_back(&names, &takes);
                return Err(err);
            }
        }
        if let Some((err, i)) = failure {
            self.give_back(&names, &takes);
            return Err(store.fail(err, Some(&keys[i])));
        }
        Ok(keys
            .iter()
            .zip(names)
            .zip(takes.into_iter().zip(values))
            .map(|((key, name), (take, value))| {
                let token = match take {
                    Take::Token(token) => Some(token),
                    Take::WritesRefused => None,
                    Take::Busy => return None,
                };
                let mutex = RedisMutex::taken(Arc::clone(self), name, key.clone(), token);
                Some(Locked::new(Some(Arc::new(mutex) as Arc<dyn BackendMutex>), value))
            })
            .collect())
    }

    /// One `SET NX` per key, each followed by the key's read when `read_along`.
    fn lock_commands<'k>(
        &self,
        keys: &'k [CacheKey],
        names: &[String],
        tokens: &[String],
        read_along: bool,
    ) -> Result<Commands<'k>> {
        let mut commands = Commands::default();
        for (i, key) in keys.iter().enumerate() {
            let mut cmd = redis::cmd("SET");
            cmd.arg(&names[i]).arg(&tokens[i]).arg("NX");
            if let Some(timeout) = self.store.config.lock.timeout {
                cmd.arg("PX").arg(millis(timeout));
            }
            commands.push(cmd, &names[i], Some(key));
            if read_along {
                let (read, routing) = Store::read_cmd(key)?;
                commands.push(read, routing, Some(key));
            }
        }
        Ok(commands)
    }

    /// Releases, in the background, the locks a failed batch took.
    fn give_back(self: &Arc<Self>, names: &[String], takes: &[Take]) {
        for (name, take) in names.iter().zip(takes) {
            if let Take::Token(token) = take {
                settle(Arc::clone(self), name.clone(), token.clone(), Unsettled::Release);
            }
        }
    }

    /// Writes `items` and releases this backend's `mutexes` in one round trip (one per node
    /// on a cluster), writes first; other mutexes are released one by one. See
    /// [`dogpile::backend::Backend::set_multi_and_release`].
    pub(crate) async fn set_multi_and_release(
        self: &Arc<Self>,
        items: &[(CacheKey, Bytes)],
        mutexes: Vec<Arc<dyn BackendMutex>>,
    ) -> (Result<()>, Vec<Result<()>>) {
        let mut released: Vec<Option<Result<()>>> = mutexes.iter().map(|_| None).collect();
        let mut ours: Vec<Ours<'_>> = Vec::new();
        for (at, mutex) in mutexes.iter().enumerate() {
            let any: &dyn std::any::Any = &**mutex;
            let Some(redis_mutex) = any.downcast_ref::<RedisMutex>().filter(|m| m.belongs_to(self)) else {
                continue;
            };
            match redis_mutex.take_held() {
                Some(held) => match held.token.clone() {
                    Some(token) => ours.push((at, redis_mutex, held, token)),
                    None => released[at] = Some(Ok(())),
                },
                None => released[at] = Some(Ok(())),
            }
        }

        let stored = self.write_and_release(items, ours, &mut released).await;
        for (at, mutex) in mutexes.iter().enumerate() {
            if released[at].is_none() {
                released[at] = Some(mutex.release().await);
            }
        }
        (stored, released.into_iter().map(|r| r.unwrap_or(Ok(()))).collect())
    }

    /// The pipeline of [`Locks::set_multi_and_release`]: the store's write of `items`, then
    /// the release of each lock in `ours`, whose outcomes go to `released`.
    async fn write_and_release(
        self: &Arc<Self>,
        items: &[(CacheKey, Bytes)],
        ours: Vec<Ours<'_>>,
        released: &mut [Option<Result<()>>],
    ) -> Result<()> {
        // A server that cannot be asked takes the script, which fails as the round trip does.
        let delifeq = !ours.is_empty() && self.store.has_delifeq().await.unwrap_or(false);
        let mut after = Vec::new();
        for (_, mutex, _, token) in &ours {
            after
                .extend(release_cmds(self, mutex.name(), token, delifeq).into_iter().map(|c| (c, mutex.name().into())));
        }
        match self.store.write(items, after).await {
            Wrote::Refused(err) => {
                for (at, mutex, held, _) in ours {
                    released[at] = Some(mutex.release_held(held).await);
                }
                Err(err)
            }
            Wrote::Unanswered(err) => {
                // The releases may or may not have run; each is settled in the background, as
                // a single release is.
                for (at, mutex, _, token) in ours {
                    settle(Arc::clone(self), mutex.name().to_owned(), token, Unsettled::Release);
                    released[at] = Some(Err(Error::backend(
                        err.backend_kind().unwrap_or(BackendErrorKind::Connection),
                        format!("lock release not confirmed: {err}"),
                    )));
                }
                if items.is_empty() { Ok(()) } else { Err(err) }
            }
            Wrote::Ran { stored, after } => {
                let replies = after.into_iter().step_by(if delifeq { 2 } else { 1 });
                for ((at, mutex, held, _), reply) in ours.into_iter().zip(replies) {
                    released[at] = Some(self.released(mutex, held, reply).await);
                }
                stored
            }
        }
    }

    /// The outcome of one release sent in a write's pipeline.
    async fn released(
        self: &Arc<Self>,
        mutex: &RedisMutex,
        held: Held,
        reply: RedisResult<redis::Value>,
    ) -> Result<()> {
        let outcome: RedisResult<i64> = reply.and_then(|v| Ok(redis::from_redis_value(v)?));
        match outcome {
            Ok(n) => mutex.after_release(n, &held),
            // The server lost the release script: this release loads it.
            Err(err) if is_no_script(&err) => mutex.release_held(held).await,
            Err(err) => {
                if outcome_unknown(&err) {
                    let token = held.token.clone().unwrap_or_default();
                    settle(Arc::clone(self), mutex.name().to_owned(), token, Unsettled::Release);
                }
                Err(mutex.error(err))
            }
        }
    }
}

/// What a batch's replies said: each key's [`Take`] and the value read along with it, and the
/// first failure with its key's position.
struct Taken {
    takes: Vec<Take>,
    values: Vec<Option<Bytes>>,
    failure: Option<(redis::RedisError, usize)>,
}

fn read_takes(replies: Vec<RedisResult<redis::Value>>, tokens: &[String], read_along: bool) -> Taken {
    let mut takes = Vec::with_capacity(tokens.len());
    let mut values = Vec::with_capacity(tokens.len());
    let mut failure = None;
    let mut replies = replies.into_iter();
    for (i, token) in tokens.iter().enumerate() {
        let set = replies.next();
        let read = if read_along { replies.next() } else { None };
        takes.push(match set {
            Some(Ok(redis::Value::Nil)) | None => Take::Busy,
            Some(Ok(_)) => Take::Token(token.clone()),
            Some(Err(err)) if refuses_writes(&err) => Take::WritesRefused,
            Some(Err(err)) => {
                failure.get_or_insert((err, i));
                Take::Busy
            }
        });
        values.push(match read.map(|r| r.and_then(|v| Ok(redis::from_redis_value::<Option<Vec<u8>>>(v)?))) {
            Some(Ok(value)) => value.map(Bytes::from),
            Some(Err(err)) => {
                failure.get_or_insert((err, i));
                None
            }
            None => None,
        });
    }
    Taken { takes, values, failure }
}

/// Reads the keys whose locks were `taken` into `values`, in one more round trip (where a
/// lock and its key cannot share a pipeline).
async fn read_under_locks(
    store: &Store,
    keys: &[CacheKey],
    taken: &[bool],
    values: &mut [Option<Bytes>],
) -> Result<()> {
    let to_read: Vec<CacheKey> = keys.iter().zip(taken).filter(|(_, t)| **t).map(|(k, _)| k.clone()).collect();
    if to_read.is_empty() {
        return Ok(());
    }
    let mut read = store.get_multi(&to_read).await?.into_iter();
    for (value, taken) in values.iter_mut().zip(taken) {
        if *taken {
            *value = read.next().flatten();
        }
    }
    Ok(())
}
