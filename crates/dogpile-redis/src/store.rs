//! The Redis operations both backends share: plain keys as strings, hash keys as hash fields,
//! every multi-key operation in one round trip.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dogpile::backend::BackendMutex;
use dogpile::{Bytes, CacheKey, Error, Result};
use redis::{Pipeline, RedisResult};

use crate::config::RedisConfig;
use crate::connection::Connection;
use crate::error::backend_error;
use crate::lock::{LockScripts, RedisMutex};
use crate::ttl::{HASH_WRITE, HashTtlPolicy, Ttl, hash_write_cmd};

/// The state behind a backend handle.
pub(crate) struct Store {
    pub(crate) config: RedisConfig,
    pub(crate) connection: Connection,
    pub(crate) scripts: LockScripts,
    /// Whether the server has the hash write script, as far as this store knows.
    hash_write_loaded: AtomicBool,
}

/// Keys of one call, split into plain keys and per-hash fields, remembering each key's
/// position in the caller's list.
struct Split<'a> {
    plain: Vec<(usize, &'a str)>,
    hashes: Vec<(&'a str, Vec<(usize, &'a str)>)>,
}

fn split<'a>(keys: impl Iterator<Item = &'a CacheKey>) -> Result<Split<'a>> {
    let mut plain = Vec::new();
    let mut hashes: Vec<(&str, Vec<(usize, &str)>)> = Vec::new();
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for (i, key) in keys.enumerate() {
        match key {
            CacheKey::Plain(k) => plain.push((i, k.as_str())),
            CacheKey::Hash { name, field } => {
                let slot = *by_name.entry(name.as_str()).or_insert_with(|| {
                    hashes.push((name.as_str(), Vec::new()));
                    hashes.len() - 1
                });
                hashes[slot].1.push((i, field.as_str()));
            }
            other => return Err(Error::UnsupportedKey { key: other.clone(), backend: "redis" }),
        }
    }
    Ok(Split { plain, hashes })
}

impl Store {
    pub(crate) fn new(config: RedisConfig) -> Result<Arc<Self>> {
        let connection = Connection::new(&config)?;
        Ok(Arc::new(Store {
            config,
            connection,
            scripts: LockScripts::new(),
            hash_write_loaded: AtomicBool::new(false),
        }))
    }

    /// A failed command as the crate's error; the connection learns of it first.
    pub(crate) fn fail(&self, err: redis::RedisError, key: Option<&CacheKey>) -> Error {
        self.connection.failed(&err);
        backend_error(err, key)
    }

    fn ttl(&self) -> Option<Ttl> {
        self.config.redis_expiration_time.map(Ttl::new)
    }

    /// Runs `pipe` (one round trip) with per-command results; the first failed command is
    /// reported with the key it concerned.
    async fn run<'k>(
        &self,
        pipe: &mut Pipeline,
        key_of_command: impl Fn(usize) -> Option<&'k CacheKey>,
    ) -> Result<Vec<redis::Value>> {
        let mut conn = self.connection.get().await?;
        let results: Vec<RedisResult<redis::Value>> =
            pipe.ignore_errors().query_async(&mut conn).await.map_err(|e| self.fail(e, None))?;
        let mut values = Vec::with_capacity(results.len());
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(value) => values.push(value),
                Err(err) => return Err(self.fail(err, key_of_command(i))),
            }
        }
        Ok(values)
    }

    pub(crate) async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        let mut conn = self.connection.get().await?;
        let mut cmd;
        match key {
            CacheKey::Plain(k) => {
                cmd = redis::cmd("GET");
                cmd.arg(k);
            }
            CacheKey::Hash { name, field } => {
                cmd = redis::cmd("HGET");
                cmd.arg(name).arg(field);
            }
            other => return Err(Error::UnsupportedKey { key: other.clone(), backend: "redis" }),
        }
        let value: Option<Vec<u8>> = cmd.query_async(&mut conn).await.map_err(|e| self.fail(e, Some(key)))?;
        Ok(value.map(Bytes::from))
    }

    /// MGET for the plain keys and one HMGET per hash, in one pipeline.
    pub(crate) async fn get_multi(&self, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>> {
        let parts = split(keys.iter())?;
        if parts.hashes.is_empty() && !parts.plain.is_empty() {
            // Plain keys only: one MGET, no pipeline.
            let mut conn = self.connection.get().await?;
            let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                .arg(parts.plain.iter().map(|(_, k)| *k).collect::<Vec<_>>())
                .query_async(&mut conn)
                .await
                .map_err(|e| self.fail(e, None))?;
            return Ok(values.into_iter().map(|v| v.map(Bytes::from)).collect());
        }
        let mut pipe = redis::pipe();
        // For each command: the index of the key it is reported under, if any.
        let mut owners: Vec<Option<usize>> = Vec::new();
        let mut layout: Vec<Vec<usize>> = Vec::new();
        if !parts.plain.is_empty() {
            pipe.cmd("MGET").arg(parts.plain.iter().map(|(_, k)| *k).collect::<Vec<_>>());
            owners.push(None);
            layout.push(parts.plain.iter().map(|(i, _)| *i).collect());
        }
        for (name, fields) in &parts.hashes {
            pipe.cmd("HMGET").arg(*name).arg(fields.iter().map(|(_, f)| *f).collect::<Vec<_>>());
            owners.push(fields.first().map(|(i, _)| *i));
            layout.push(fields.iter().map(|(i, _)| *i).collect());
        }
        let mut out = vec![None; keys.len()];
        if layout.is_empty() {
            return Ok(out);
        }
        let replies = self.run(&mut pipe, |c| owners.get(c).copied().flatten().map(|i| &keys[i])).await?;
        for (positions, reply) in layout.iter().zip(replies) {
            let values: Vec<Option<Vec<u8>>> =
                redis::from_redis_value(reply).map_err(|e| backend_error(e.into(), None))?;
            for (&i, value) in positions.iter().zip(values) {
                out[i] = value.map(Bytes::from);
            }
        }
        Ok(out)
    }

    fn hash_ttl(&self) -> Option<(Ttl, bool)> {
        let ttl = self.ttl()?;
        match self.config.redis_expiration_time_hash {
            HashTtlPolicy::Never => None,
            HashTtlPolicy::OnCreate => Some((ttl, true)),
            HashTtlPolicy::OnEveryWrite => Some((ttl, false)),
        }
    }

    pub(crate) async fn set(&self, key: &CacheKey, value: Bytes) -> Result<()> {
        self.set_multi(std::slice::from_ref(&(key.clone(), value))).await
    }

    /// Plain keys with MSET (or SET with EX/PX each); each hash with one HSET, or, when it may
    /// get a TTL, one script that writes it and sets the TTL all or nothing; all in one round
    /// trip.
    pub(crate) async fn set_multi(&self, items: &[(CacheKey, Bytes)]) -> Result<()> {
        let parts = split(items.iter().map(|(k, _)| k))?;
        let hash_ttl = self.hash_ttl();
        let uses_script = hash_ttl.is_some() && !parts.hashes.is_empty();
        // The pipeline, with the script loaded first in the same round trip when the server
        // may not have it yet.
        let build = |load_script: bool| {
            let mut pipe = redis::pipe();
            let mut owners: Vec<Option<usize>> = Vec::new();
            if load_script {
                pipe.cmd("SCRIPT").arg("LOAD").arg(HASH_WRITE);
                owners.push(None);
            }
            let value = |i: usize| items[i].1.as_ref();
            match self.ttl() {
                Some(ttl) => {
                    let options = ttl.set_options();
                    for &(i, key) in &parts.plain {
                        pipe.set_options(key, value(i), options.clone());
                        owners.push(Some(i));
                    }
                }
                None if parts.plain.len() == 1 => {
                    let (i, key) = parts.plain[0];
                    pipe.set(key, value(i));
                    owners.push(Some(i));
                }
                None if !parts.plain.is_empty() => {
                    pipe.mset(&parts.plain.iter().map(|&(i, k)| (k, value(i))).collect::<Vec<_>>());
                    owners.push(None);
                }
                None => {}
            }
            for (name, fields) in &parts.hashes {
                let pairs = fields.iter().map(|&(i, f)| (f, value(i)));
                match hash_ttl {
                    Some((ttl, only_on_create)) => {
                        pipe.add_command(hash_write_cmd(name, ttl, !only_on_create, pairs));
                    }
                    None => {
                        pipe.hset_multiple(*name, &pairs.collect::<Vec<_>>());
                    }
                }
                owners.push(fields.first().map(|(i, _)| *i));
            }
            (pipe, owners)
        };
        let (mut pipe, owners) = build(uses_script && !self.hash_write_loaded.load(Ordering::Relaxed));
        if owners.is_empty() {
            return Ok(());
        }
        let key_of = |owners: &[Option<usize>], c: usize| owners.get(c).copied().flatten().map(|i| &items[i].0);
        let written = match self.run(&mut pipe, |c| key_of(&owners, c)).await {
            // The server lost its scripts (a restart, SCRIPT FLUSH): load and write again.
            Err(err) if is_no_script(&err) => {
                let (mut pipe, owners) = build(true);
                self.run(&mut pipe, |c| key_of(&owners, c)).await
            }
            other => other,
        };
        if written.is_ok() && uses_script {
            self.hash_write_loaded.store(true, Ordering::Relaxed);
        }
        written.map(drop)
    }

    pub(crate) async fn delete(&self, key: &CacheKey) -> Result<()> {
        self.delete_multi(std::slice::from_ref(key)).await
    }

    /// One DEL for the plain keys and one HDEL per hash, in one round trip.
    pub(crate) async fn delete_multi(&self, keys: &[CacheKey]) -> Result<()> {
        let parts = split(keys.iter())?;
        let mut pipe = redis::pipe();
        let mut owners: Vec<Option<usize>> = Vec::new();
        if !parts.plain.is_empty() {
            pipe.del(parts.plain.iter().map(|(_, k)| *k).collect::<Vec<_>>());
            owners.push(None);
        }
        for (name, fields) in &parts.hashes {
            pipe.hdel(*name, fields.iter().map(|(_, f)| *f).collect::<Vec<_>>());
            owners.push(fields.first().map(|(i, _)| *i));
        }
        if owners.is_empty() {
            return Ok(());
        }
        self.run(&mut pipe, |c| owners.get(c).copied().flatten().map(|i| &keys[i])).await.map(drop)
    }

    pub(crate) fn mutex(self: &Arc<Self>, key: &CacheKey) -> Option<Arc<dyn BackendMutex>> {
        if !self.config.distributed_lock {
            return None;
        }
        let name = format!("{}{}", self.config.lock_prefix, key.lock_name());
        Some(Arc::new(RedisMutex::new(Arc::clone(self), name, key.clone())))
    }
}

/// True for a script that the server does not have (NOSCRIPT).
fn is_no_script(err: &Error) -> bool {
    std::error::Error::source(err)
        .and_then(|s| s.downcast_ref::<redis::RedisError>())
        .is_some_and(|e| e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript))
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("config", &self.config).field("connection", &self.connection).finish()
    }
}
