//! Many keys' dogpile locks, one round trip each way.
//!
//! `get_or_create_multi` takes the locks of the keys it must create with one pipeline of
//! `SET <lock> <token> NX PX`, each followed by the read of its key, so that the value is read
//! under the lock in the same round trip. On a cluster the reads go in a second round trip: a
//! lock and its key may live on different nodes, whose pipelines run concurrently. The created
//! values and the releases then go in one more pipeline, writes first. The locks are the same
//! keys and tokens as the single-key lock's, so every holder, Rust or Python, excludes the
//! others as before.

use std::sync::Arc;

use dogpile::backend::{BackendMutex, Locked};
use dogpile::{BackendErrorKind, Bytes, CacheKey, Error, Result};
use redis::RedisResult;

use super::{Commands, Store, split};
use crate::lock::{Held, RedisMutex, millis, new_token, outcome_unknown, refuses_writes, release_cmds, settle};

/// Tokens sent with `SET NX` whose outcome is not known yet. Dropped armed (the caller went
/// away, or the round trip failed without an answer), each is released in the background once
/// the server answers, as a single lock's acquisition is.
struct Pending<'a> {
    store: &'a Arc<Store>,
    names: &'a [String],
    tokens: &'a [String],
    armed: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.armed {
            for (name, token) in self.names.iter().zip(self.tokens) {
                settle(Arc::clone(self.store), name.clone(), token.clone(), true);
            }
        }
    }
}

/// True for a script the server does not have (it was flushed, or the server restarted).
fn no_script(err: &redis::RedisError) -> bool {
    err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
}

impl Store {
    /// Tries each key's lock once, reading each key under its lock, in one round trip (two on
    /// a cluster). See [`dogpile::backend::Backend::try_lock_multi`].
    pub(crate) async fn try_lock_multi(self: &Arc<Self>, keys: &[CacheKey]) -> Result<Vec<Option<Locked>>> {
        split(keys.iter())?;
        if !self.config.distributed_lock {
            let values = self.get_multi(keys).await?;
            return Ok(values.into_iter().map(|value| Some(Locked::new(None, value))).collect());
        }
        let cluster = self.config.is_cluster();
        let names: Vec<String> = keys.iter().map(|k| self.lock_name(k)).collect();
        let tokens: Vec<String> = keys.iter().map(|_| new_token()).collect();
        let mut commands = Commands::default();
        for (i, key) in keys.iter().enumerate() {
            let mut cmd = redis::cmd("SET");
            cmd.arg(&names[i]).arg(&tokens[i]).arg("NX");
            if let Some(timeout) = self.config.lock_timeout {
                cmd.arg("PX").arg(millis(timeout));
            }
            commands.push(cmd, &names[i], Some(key));
            if !cluster {
                let (read, routing) = Self::read_cmd(key)?;
                commands.push(read, routing, Some(key));
            }
        }
        let mut pending = Pending { store: self, names: &names, tokens: &tokens, armed: true };
        let replies = self.run_each(commands).await?;
        pending.armed = false;
        drop(pending);

        // Per key: `Some(token)` when taken (`Some(None)` when the server refuses writes: the
        // in-process lock is the lock then, as for a single key), and the value read.
        let mut taken: Vec<Option<Option<String>>> = Vec::with_capacity(keys.len());
        let mut values: Vec<Option<Bytes>> = Vec::with_capacity(keys.len());
        let mut failure: Option<(redis::RedisError, usize)> = None;
        let mut replies = replies.into_iter();
        for (i, token) in tokens.iter().enumerate() {
            let set = replies.next();
            let read = if cluster { None } else { replies.next() };
            taken.push(match set {
                Some(Ok(redis::Value::Nil)) | None => None,
                Some(Ok(_)) => Some(Some(token.clone())),
                Some(Err(err)) if refuses_writes(&err) => Some(None),
                Some(Err(err)) => {
                    failure.get_or_insert((err, i));
                    None
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
        if cluster && failure.is_none() {
            let to_read: Vec<CacheKey> =
                keys.iter().zip(&taken).filter(|(_, t)| t.is_some()).map(|(k, _)| k.clone()).collect();
            if !to_read.is_empty() {
                match self.get_multi(&to_read).await {
                    Ok(read) => {
                        let mut read = read.into_iter();
                        for (value, t) in values.iter_mut().zip(&taken) {
                            if t.is_some() {
                                *value = read.next().flatten();
                            }
                        }
                    }
                    Err(err) => {
                        self.give_back(&names, &taken);
                        return Err(err);
                    }
                }
            }
        }
        if let Some((err, i)) = failure {
            self.give_back(&names, &taken);
            return Err(self.fail(err, Some(&keys[i])));
        }
        Ok(keys
            .iter()
            .zip(names)
            .zip(taken.into_iter().zip(values))
            .map(|((key, name), (taken, value))| {
                taken.map(|token| {
                    let mutex = RedisMutex::taken(Arc::clone(self), name, key.clone(), token);
                    Locked::new(Some(Arc::new(mutex) as Arc<dyn BackendMutex>), value)
                })
            })
            .collect())
    }

    /// Releases, in the background, the locks a failed batch took.
    fn give_back(self: &Arc<Self>, names: &[String], taken: &[Option<Option<String>>]) {
        for (name, taken) in names.iter().zip(taken) {
            if let Some(Some(token)) = taken {
                settle(Arc::clone(self), name.clone(), token.clone(), false);
            }
        }
    }

    /// Writes `items` and releases this store's `mutexes` in one round trip (one per node on a
    /// cluster), writes first; other mutexes are released one by one. See
    /// [`dogpile::backend::Backend::set_multi_and_release`].
    pub(crate) async fn set_multi_and_release(
        self: &Arc<Self>,
        items: &[(CacheKey, Bytes)],
        mutexes: Vec<Arc<dyn BackendMutex>>,
    ) -> (Result<()>, Vec<Result<()>>) {
        let mut released: Vec<Option<Result<()>>> = mutexes.iter().map(|_| None).collect();
        // This store's held mutexes, released in the pipeline: (position, mutex, held, token).
        let mut ours: Vec<(usize, &RedisMutex, Held, String)> = Vec::new();
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

        let stored = self.write_and_release(items, &mut ours, &mut released).await;
        for (at, mutex) in mutexes.iter().enumerate() {
            if released[at].is_none() {
                released[at] = Some(mutex.release().await);
            }
        }
        (stored, released.into_iter().map(|r| r.unwrap_or(Ok(()))).collect())
    }

    /// The pipeline of [`Store::set_multi_and_release`]: the writes, then one release script
    /// per lock in `ours`, whose outcomes go to `released`.
    async fn write_and_release(
        self: &Arc<Self>,
        items: &[(CacheKey, Bytes)],
        ours: &mut Vec<(usize, &RedisMutex, Held, String)>,
        released: &mut [Option<Result<()>>],
    ) -> Result<()> {
        let parts = split(items.iter().map(|(k, _)| k));
        let field_ttl = match &parts {
            Ok(parts) if !parts.hashes.is_empty() => self.check().await,
            _ => Ok(None),
        };
        let (parts, field_ttl) = match (parts, field_ttl) {
            (Ok(parts), Ok(field_ttl)) => (parts, field_ttl),
            (Err(err), _) | (_, Err(err)) => {
                for (at, mutex, held, _) in ours.drain(..) {
                    released[at] = Some(mutex.release_held(held).await);
                }
                return Err(err);
            }
        };
        let uses_script = !items.is_empty() && self.uses_hash_script(&parts);
        let loaded = self.hash_write_loaded.load(std::sync::atomic::Ordering::Relaxed);
        let mut commands = self.write_commands(items, &parts, uses_script && !loaded, field_ttl);
        let writes = commands.list.len();
        let owners = commands.owners.clone();
        // A server that cannot be asked takes the script, which fails as the round trip does.
        let delifeq = !ours.is_empty() && self.has_delifeq().await.unwrap_or(false);
        for (_, mutex, _, token) in ours.iter() {
            for cmd in release_cmds(self, mutex.name(), token, delifeq) {
                commands.push(cmd, mutex.name(), None);
            }
        }
        if commands.list.is_empty() {
            return Ok(());
        }
        let replies = match self.run_each(commands).await {
            Ok(replies) => replies,
            Err(err) => {
                // No answer: the releases may or may not have run; each is settled in the
                // background, as a single release is.
                for (at, mutex, _, token) in ours.drain(..) {
                    settle(Arc::clone(self), mutex.name().to_owned(), token, false);
                    released[at] = Some(Err(Error::backend(
                        err.backend_kind().unwrap_or(BackendErrorKind::Connection),
                        format!("lock release not confirmed: {err}"),
                    )));
                }
                return if items.is_empty() { Ok(()) } else { Err(err) };
            }
        };
        let mut replies = replies.into_iter();
        let mut stored = Ok(());
        let mut script_missing = false;
        for (i, reply) in replies.by_ref().take(writes).enumerate() {
            if let Err(err) = reply {
                script_missing |= no_script(&err);
                if stored.is_ok() {
                    stored = Err(self.fail(err, owners.get(i).copied().flatten()));
                }
            }
        }
        for ((at, mutex, held, _), reply) in ours.drain(..).zip(replies.by_ref().step_by(if delifeq { 2 } else { 1 })) {
            let outcome: RedisResult<i64> = reply.and_then(|v| Ok(redis::from_redis_value(v)?));
            released[at] = Some(match outcome {
                Ok(n) => mutex.after_release(n, &held),
                // The server lost the release script: this release loads it.
                Err(err) if no_script(&err) => mutex.release_held(held).await,
                Err(err) => {
                    if outcome_unknown(&err) {
                        settle(
                            Arc::clone(self),
                            mutex.name().to_owned(),
                            held.token.clone().unwrap_or_default(),
                            false,
                        );
                    }
                    Err(mutex.error(err))
                }
            });
        }
        // The server lost the hash write script: write again, loading it. (The locks are free
        // already; a caller that took one meanwhile reads the value once this write lands.)
        if script_missing {
            stored = self.set_multi(items).await;
        } else if stored.is_ok() && uses_script {
            self.hash_write_loaded.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        stored
    }
}
