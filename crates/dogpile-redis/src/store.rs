//! The Redis operations both backends share: plain keys as strings, hash keys as hash fields,
//! every multi-key operation in one round trip.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dogpile::{BackendErrorKind, Bytes, CacheKey, Error, Result};
use redis::RedisResult;

use crate::config::RedisConfig;
use crate::connection::Connection;
use crate::error::{backend_error, is_no_script};
use crate::gather::{Failure, Fetched, Gather, ReadEach};
use crate::topology::{Commands, ScriptCall, Topology};
use crate::ttl::{FieldTtl, HASH_WRITE, HashTtlPolicy, Ttl, hash_write_cmd, hash_write_sha};

/// The state behind a backend handle.
pub(crate) struct Store {
    /// The name of the backend this store serves, for what it logs and counts.
    pub(crate) backend: &'static str,
    pub(crate) config: RedisConfig,
    pub(crate) connection: Connection,
    /// Whether the server has the hash write script, as far as this store knows.
    hash_write_loaded: AtomicBool,
    /// The commands the server has beyond Redis 7.0's, once asked.
    commands: std::sync::OnceLock<ServerCommands>,
    /// One server or a cluster: how commands are grouped, routed and scripts called.
    topology: Topology,
    /// Read coalescing, unless configured off.
    gather: Option<Gather>,
}

/// What a server has of the commands that Redis 7.0 lacks.
#[derive(Debug, Clone, Copy)]
struct ServerCommands {
    field_ttl: FieldTtl,
    /// `DELIFEQ key value` (Valkey 9): a compare-and-delete with no script.
    delifeq: bool,
}

impl ServerCommands {
    const NONE: ServerCommands = ServerCommands { field_ttl: FieldTtl::Missing, delifeq: false };

    /// From the reply of `COMMAND INFO HSETEX HPEXPIRE DELIFEQ` (nil for an unknown command).
    fn from_command_info(reply: &redis::Value) -> Self {
        let has = |i: usize| matches!(reply, redis::Value::Array(items) if items.get(i).is_some_and(|info| !matches!(info, redis::Value::Nil)));
        let field_ttl = if has(0) {
            FieldTtl::Hsetex
        } else if has(1) {
            FieldTtl::Hpexpire
        } else {
            FieldTtl::Missing
        };
        ServerCommands { field_ttl, delifeq: has(2) }
    }
}

/// Keys of one call, split into plain keys and per-hash fields, remembering each key's
/// position in the caller's list.
pub(crate) struct Split<'a> {
    plain: Vec<(usize, &'a str)>,
    hashes: Vec<(&'a str, Vec<(usize, &'a str)>)>,
}

pub(crate) fn split<'a>(keys: impl Iterator<Item = &'a CacheKey>) -> Result<Split<'a>> {
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

/// The values of an MGET or HMGET reply, each bulk string taken as it is (no copy).
fn bulk_values(reply: redis::Value) -> Result<Vec<Option<Bytes>>> {
    let unexpected = |what: &str| {
        Error::backend(dogpile::BackendErrorKind::Other, format!("expected the values of MGET or HMGET, got {what}"))
    };
    let redis::Value::Array(items) = reply else {
        return Err(unexpected("another reply"));
    };
    items
        .into_iter()
        .map(|item| match item {
            redis::Value::BulkString(bytes) => Ok(Some(Bytes::from(bytes))),
            redis::Value::Nil => Ok(None),
            _ => Err(unexpected("an item that is not a string")),
        })
        .collect()
}

impl Store {
    pub(crate) fn new(config: RedisConfig, backend: &'static str) -> Result<Arc<Self>> {
        let connection = Connection::new(&config)?;
        let topology = Topology::of(&config);
        Ok(Arc::new(Store {
            gather: config
                .socket
                .coalesce_reads
                .then(|| Gather::new(topology.lanes(), config.socket.coalesced_reads_in_flight, backend)),
            backend,
            connection,
            hash_write_loaded: AtomicBool::new(false),
            commands: std::sync::OnceLock::new(),
            topology,
            config,
        }))
    }

    /// A failed command as what a batch read's callers share; the connection learns of it
    /// first.
    fn failed(&self, err: redis::RedisError) -> Failure {
        self.connection.failed(&err);
        Failure::Redis(err)
    }

    /// A failed command as the crate's error; the connection learns of it first.
    pub(crate) fn fail(&self, err: redis::RedisError, key: Option<&CacheKey>) -> Error {
        self.connection.failed(&err);
        backend_error(err, key)
    }

    /// The Redis TTL of one value or hash written now: `redis_expiration_time`, less a
    /// random part under `redis_expiration_time_jitter`.
    fn draw_ttl(&self) -> Option<Ttl> {
        let ttl = self.config.ttl.expiration?;
        let fraction = self.config.ttl.jitter;
        Some(Ttl::new(if fraction > 0.0 {
            ttl.mul_f64(1.0 - fraction * crate::connection::random_unit())
        } else {
            ttl
        }))
    }

    /// Runs `commands` with per-command results (one round trip on one server, one per node
    /// on a cluster); the first failed command is reported with the key it concerned.
    async fn run(&self, commands: Commands<'_>) -> Result<Vec<redis::Value>> {
        let owners = commands.owners().to_vec();
        let results = self.run_each(commands).await?;
        let mut out = Vec::with_capacity(results.len());
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(value) => out.push(value),
                Err(err) => return Err(self.fail(err, owners.get(i).copied().flatten())),
            }
        }
        Ok(out)
    }

    /// Runs `commands` as [`Store::run`] does, giving each command's own result; the error is
    /// that of the whole round trip (the connection, a timeout).
    /// A transaction's error (a command of a `MULTI` that failed at `EXEC`, a wrong type) is
    /// that of its `EXEC`.
    pub(crate) async fn run_each(&self, commands: Commands<'_>) -> Result<Vec<RedisResult<redis::Value>>> {
        let mut conn = self.connection.get().await?;
        let mut results = self.topology.run(&mut conn, commands).await.map_err(|e| self.fail(e, None))?;
        for result in &mut results {
            if let Ok(redis::Value::Array(items)) = result
                && let Some(redis::Value::ServerError(err)) =
                    items.iter().find(|item| matches!(item, redis::Value::ServerError(_)))
            {
                *result = Err(err.clone().into());
            }
        }
        Ok(results)
    }

    /// The command that reads `key`, with the key it routes by.
    pub(crate) fn read_cmd(key: &CacheKey) -> Result<(redis::Cmd, &str)> {
        let routing = Self::routing_key(key)?;
        let mut cmd;
        if let CacheKey::Hash { field, .. } = key {
            cmd = redis::cmd("HGET");
            cmd.arg(routing).arg(field);
        } else {
            cmd = redis::cmd("GET");
            cmd.arg(routing);
        }
        Ok((cmd, routing))
    }

    /// The key a read of `key` routes by: the key itself, or its hash's name.
    fn routing_key(key: &CacheKey) -> Result<&str> {
        match key {
            CacheKey::Plain(k) => Ok(k),
            CacheKey::Hash { name, .. } => Ok(name),
            other => Err(Error::UnsupportedKey { key: other.clone(), backend: "redis" }),
        }
    }

    /// One key's value: alone when no read is out on its lane, else in the next batch of
    /// reads ([`Gather`]).
    pub(crate) async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        let Some(gather) = &self.gather else {
            return self.get_one(key).await;
        };
        let lane = self.topology.lane(Self::routing_key(key)?);
        gather.get(key, lane, || self.get_one(key), self).await
    }

    /// One key's value, read alone.
    async fn get_one(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        let (cmd, _) = Self::read_cmd(key)?;
        let mut conn = self.connection.get().await?;
        let value: Option<Vec<u8>> = cmd.query_async(&mut conn).await.map_err(|e| self.fail(e, Some(key)))?;
        Ok(value.map(Bytes::from))
    }

    /// MGET for the plain keys (per slot on a cluster) and one HMGET per hash, in one
    /// pipeline (per node on a cluster).
    pub(crate) async fn get_multi(&self, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>> {
        let parts = split(keys.iter())?;
        if self.mget_alone(&parts) {
            let reply = self.mget(&parts).await?;
            return bulk_values(reply);
        }
        let (commands, places) = self.read_commands(|i| &keys[i], &parts);
        let mut out = vec![None; keys.len()];
        if commands.is_empty() {
            return Ok(out);
        }
        let replies = self.run(commands).await?;
        for (positions, reply) in places.iter().zip(replies) {
            for (&i, value) in positions.iter().zip(bulk_values(reply)?) {
                out[i] = value;
            }
        }
        Ok(out)
    }
}

impl ReadEach for Store {
    /// The values of `keys` as [`Store::get_multi`] reads them, each with its own outcome: a
    /// command that failed fails only the keys it read (a hash that is not a hash), a round
    /// trip that failed fails them all.
    async fn read_each(&self, keys: &[&CacheKey]) -> std::result::Result<Vec<Fetched>, Failure> {
        let parts = split(keys.iter().copied())?;
        if self.mget_alone(&parts) {
            return Ok(bulk_values(self.mget(&parts).await?)?.into_iter().map(Ok).collect());
        }
        let (commands, places) = self.read_commands(|i| keys[i], &parts);
        let mut out = vec![Ok(None); keys.len()];
        let replies = self.run_each(commands).await?;
        for (positions, reply) in places.iter().zip(replies) {
            let values: Vec<Fetched> = match reply.map_err(|err| self.failed(err)).map(bulk_values) {
                Ok(Ok(values)) => values.into_iter().map(Ok).collect(),
                Ok(Err(err)) => vec![Err(Failure::from(err)); positions.len()],
                Err(failure) => vec![Err(failure); positions.len()],
            };
            for (&i, value) in positions.iter().zip(values) {
                out[i] = value;
            }
        }
        Ok(out)
    }
}

impl Store {
    /// Whether keys split into `parts` are read by one MGET and nothing else: plain keys only,
    /// on one server.
    fn mget_alone(&self, parts: &Split<'_>) -> bool {
        parts.hashes.is_empty() && !parts.plain.is_empty() && self.topology.one_pipeline()
    }

    /// One MGET of the plain keys of `parts`, no pipeline.
    async fn mget(&self, parts: &Split<'_>) -> Result<redis::Value> {
        let mut conn = self.connection.get().await?;
        let mut mget = redis::cmd("MGET");
        for (_, k) in &parts.plain {
            mget.arg(*k);
        }
        mget.query_async(&mut conn).await.map_err(|e| self.fail(e, None))
    }

    /// The commands that read the keys split into `parts` (the `i`th being `key(i)`), and for
    /// each command the places in the keys of the values its reply holds.
    fn read_commands<'a>(
        &self,
        key: impl Fn(usize) -> &'a CacheKey,
        parts: &Split<'a>,
    ) -> (Commands<'a>, Vec<Vec<usize>>) {
        let mut commands = Commands::default();
        let mut places = Vec::new();
        let groups = self.topology.groups(&parts.plain);
        for (slot, group) in groups.iter() {
            let mut cmd = redis::cmd("MGET");
            for (_, k) in group {
                cmd.arg(*k);
            }
            commands.push_in_slot(cmd, slot, None);
            places.push(group.iter().map(|(i, _)| *i).collect());
        }
        for (name, fields) in &parts.hashes {
            let mut cmd = redis::cmd("HMGET");
            cmd.arg(*name);
            for (_, f) in fields {
                cmd.arg(*f);
            }
            commands.push(cmd, name, fields.first().map(|(i, _)| key(*i)));
            places.push(fields.iter().map(|(i, _)| *i).collect());
        }
        (commands, places)
    }

    /// The hash-wide TTL of a hash write, and when it is set: by every write, or only by one
    /// that creates the hash (`None` under per-field TTLs, or without a TTL).
    fn hash_ttl(&self) -> Option<(Ttl, HashTtlPolicy)> {
        let ttl = self.draw_ttl()?;
        match self.config.ttl.hash {
            HashTtlPolicy::Never | HashTtlPolicy::PerField => None,
            policy @ (HashTtlPolicy::OnCreate | HashTtlPolicy::OnEveryWrite) => Some((ttl, policy)),
        }
    }

    /// Whether hash fields get TTLs of their own.
    fn per_field(&self) -> bool {
        self.config.ttl.hash == HashTtlPolicy::PerField && self.config.ttl.expiration.is_some()
    }

    /// The commands the server has beyond Redis 7.0's, asked once (`COMMAND INFO`).
    async fn server_commands(&self) -> Result<ServerCommands> {
        if let Some(known) = self.commands.get() {
            return Ok(*known);
        }
        let mut cmd = redis::cmd("COMMAND");
        cmd.arg("INFO").arg("HSETEX").arg("HPEXPIRE").arg("DELIFEQ");
        let mut commands = Commands::default();
        commands.push(cmd, "", None);
        let known = match self.run(commands).await {
            Ok(reply) => reply.first().map_or(ServerCommands::NONE, ServerCommands::from_command_info),
            // Asked again next time when the server was away; a refusal (an ACL without
            // COMMAND) is an answer: none of them.
            Err(err)
                if matches!(err.backend_kind(), Some(BackendErrorKind::Connection | BackendErrorKind::Timeout)) =>
            {
                return Err(err);
            }
            Err(_) => ServerCommands::NONE,
        };
        Ok(*self.commands.get_or_init(|| known))
    }

    /// How the server gives a hash field its own TTL.
    async fn field_ttl(&self) -> Result<FieldTtl> {
        Ok(self.server_commands().await?.field_ttl)
    }

    /// Whether the server releases a lock by its token without a script (`DELIFEQ`).
    pub(crate) async fn has_delifeq(&self) -> Result<bool> {
        Ok(self.server_commands().await?.delifeq)
    }

    /// The way per-field TTLs are written, when the configuration asks for them; an error
    /// when the server has none.
    pub(crate) async fn check(&self) -> Result<Option<FieldTtl>> {
        if !self.per_field() {
            return Ok(None);
        }
        match self.field_ttl().await? {
            FieldTtl::Missing => Err(Error::config(
                "redis_expiration_time_hash",
                format!(
                    "\"per_field\" gives each hash field a TTL of its own, which needs HSETEX (Valkey 9, Redis 8) \
                     or HPEXPIRE (Redis 7.4); {} has neither",
                    self.config.redacted_url()
                ),
            )),
            found => Ok(Some(found)),
        }
    }

    pub(crate) async fn set(&self, key: &CacheKey, value: Bytes) -> Result<()> {
        self.set_multi(std::slice::from_ref(&(key.clone(), value))).await
    }

    /// Plain keys with MSET (per slot on a cluster; or SET with EX/PX each); each hash with
    /// one HSET, or, when it may get a TTL, one script that writes it and sets the TTL all or
    /// nothing; all in one round trip (per node on a cluster).
    pub(crate) async fn set_multi(&self, items: &[(CacheKey, Bytes)]) -> Result<()> {
        match self.write(items, Vec::new()).await {
            Wrote::Ran { stored, .. } => stored,
            Wrote::Refused(err) | Wrote::Unanswered(err) => Err(err),
        }
    }

    /// The write protocol: `items` written as [`Store::set_multi`] says, then `after` (with the
    /// key each routes by), in the same round trip. The writes' first failure is reported
    /// with its key; a server that lost the hash write script is written to again, loading it.
    pub(crate) async fn write(&self, items: &[(CacheKey, Bytes)], after: Vec<(redis::Cmd, String)>) -> Wrote {
        let parts = match split(items.iter().map(|(k, _)| k)) {
            Ok(parts) => parts,
            Err(err) => return Wrote::Refused(err),
        };
        let field_ttl = match parts.hashes.is_empty() {
            true => None,
            false => match self.check().await {
                Ok(field_ttl) => field_ttl,
                Err(err) => return Wrote::Refused(err),
            },
        };
        let uses_script = self.uses_hash_script(&parts);
        let loaded = self.hash_write_loaded.load(Ordering::Relaxed);
        let mut commands = self.write_commands(items, &parts, uses_script && !loaded, field_ttl);
        let (writes, owners) = (commands.len(), commands.owners().to_vec());
        for (cmd, routing) in &after {
            commands.push(cmd.clone(), routing, None);
        }
        if commands.is_empty() {
            return Wrote::Ran { stored: Ok(()), after: Vec::new() };
        }
        let mut replies = match self.run_each(commands).await {
            Ok(replies) => replies.into_iter(),
            Err(err) => return Wrote::Unanswered(err),
        };
        let mut stored = Ok(());
        let mut script_missing = false;
        for (i, reply) in replies.by_ref().take(writes).enumerate() {
            if let Err(err) = reply {
                script_missing |= is_no_script(&err);
                if stored.is_ok() {
                    stored = Err(self.fail(err, owners.get(i).copied().flatten()));
                }
            }
        }
        if script_missing {
            // The server lost its scripts (a restart, SCRIPT FLUSH): load and write again.
            stored = self.run(self.write_commands(items, &parts, true, field_ttl)).await.map(drop);
        }
        if stored.is_ok() && uses_script {
            self.hash_write_loaded.store(true, Ordering::Relaxed);
        }
        Wrote::Ran { stored, after: replies.collect() }
    }

    /// Whether writing `parts` runs the hash write script on one server (on a cluster, whose
    /// nodes each need it, the script goes with every call).
    fn uses_hash_script(&self, parts: &Split<'_>) -> bool {
        self.hash_ttl().is_some() && !parts.hashes.is_empty() && self.topology.script_call() == ScriptCall::ByHash
    }

    /// The commands that write `items` (split into `parts`), with the hash write script
    /// loaded first in the same round trip when `load_script`.
    /// Under per-field TTLs, `field_ttl` is how the server writes them.
    fn write_commands<'a>(
        &self,
        items: &'a [(CacheKey, Bytes)],
        parts: &Split<'a>,
        load_script: bool,
        field_ttl: Option<FieldTtl>,
    ) -> Commands<'a> {
        let hash_ttl = self.hash_ttl();
        let mut commands = Commands::default();
        if load_script {
            let mut cmd = redis::cmd("SCRIPT");
            cmd.arg("LOAD").arg(HASH_WRITE);
            commands.push(cmd, "", None);
        }
        let value = |i: usize| items[i].1.as_ref();
        match self.draw_ttl() {
            Some(_) => {
                for &(i, key) in &parts.plain {
                    let options = self.draw_ttl().map(Ttl::set_options).unwrap_or_default();
                    let mut cmd = redis::cmd("SET");
                    cmd.arg(key).arg(value(i)).arg(&options);
                    commands.push(cmd, key, Some(&items[i].0));
                }
            }
            None => {
                let groups = self.topology.groups(&parts.plain);
                for (slot, group) in groups.iter() {
                    let (i, key) = group[0];
                    let mut cmd;
                    if group.len() == 1 {
                        cmd = redis::cmd("SET");
                        cmd.arg(key).arg(value(i));
                    } else {
                        cmd = redis::cmd("MSET");
                        for &(i, k) in group {
                            cmd.arg(k).arg(value(i));
                        }
                    }
                    commands.push_in_slot(cmd, slot, (group.len() == 1).then(|| &items[i].0));
                }
            }
        }
        for (name, fields) in &parts.hashes {
            let pairs = fields.iter().map(|&(i, f)| (f, value(i)));
            let owner = fields.first().map(|(i, _)| &items[*i].0);
            if let (Some(field_ttl), Some(ttl)) = (field_ttl, self.draw_ttl()) {
                for cmd in field_ttl.write_cmds(name, ttl, pairs) {
                    commands.push(cmd, name, owner);
                }
                continue;
            }
            // Each hash draws its own TTL under jitter.
            let cmd = match hash_ttl.and(self.hash_ttl()) {
                Some((ttl, policy)) => {
                    let script = self.topology.script(HASH_WRITE, hash_write_sha());
                    hash_write_cmd(script, name, ttl, policy, pairs)
                }
                None => {
                    let mut cmd = redis::cmd("HSET");
                    cmd.arg(*name);
                    for (f, v) in pairs {
                        cmd.arg(f).arg(v);
                    }
                    cmd
                }
            };
            commands.push(cmd, name, fields.first().map(|(i, _)| &items[*i].0));
        }
        commands
    }

    pub(crate) async fn delete(&self, key: &CacheKey) -> Result<()> {
        self.delete_multi(std::slice::from_ref(key)).await
    }

    /// One DEL for the plain keys (per slot on a cluster) and one HDEL per hash, in one round
    /// trip (per node on a cluster).
    pub(crate) async fn delete_multi(&self, keys: &[CacheKey]) -> Result<()> {
        let parts = split(keys.iter())?;
        let mut commands = Commands::default();
        let groups = self.topology.groups(&parts.plain);
        for (slot, group) in groups.iter() {
            let mut cmd = redis::cmd("DEL");
            for (_, k) in group {
                cmd.arg(*k);
            }
            commands.push_in_slot(cmd, slot, None);
        }
        for (name, fields) in &parts.hashes {
            let mut cmd = redis::cmd("HDEL");
            cmd.arg(*name);
            for (_, f) in fields {
                cmd.arg(*f);
            }
            commands.push(cmd, name, fields.first().map(|(i, _)| &keys[*i]));
        }
        if commands.is_empty() {
            return Ok(());
        }
        self.run(commands).await.map(drop)
    }
}

/// How a [`Store::write`] ended.
pub(crate) enum Wrote {
    /// The round trip ran: the writes' outcome, and the replies of the commands after them.
    Ran { stored: Result<()>, after: Vec<RedisResult<redis::Value>> },
    /// Nothing was sent: the keys or the configuration refuse the write.
    Refused(Error),
    /// No answer came: the writes and the commands after them may or may not have run.
    Unanswered(Error),
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("config", &self.config).field("connection", &self.connection).finish()
    }
}

impl Store {
    /// One server or a cluster.
    pub(crate) fn topology(&self) -> &Topology {
        &self.topology
    }
}
