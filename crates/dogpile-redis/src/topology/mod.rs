//! The one place that knows whether a backend talks to one server or to a cluster (Sentinel
//! is one server, found through the sentinels, below this layer): how the keys of one call
//! are grouped into commands (one run per slot on a cluster, where a multi-key command must
//! stay in its slot), how those commands are routed (one pipeline on one server, one per
//! node on a cluster), and how a script is called (by its hash on one server, loaded once;
//! whole on a cluster, whose nodes each need it).

pub(crate) mod cluster;

use dogpile::CacheKey;
use redis::{RedisResult, Value};

use crate::config::RedisConfig;
use crate::connection::Conn;
use cluster::SlotMap;

/// The lanes of read coalescing on a cluster.
const CLUSTER_LANES: usize = 16;

/// One server or a cluster, and what the backend knows of the cluster's slots.
pub(crate) struct Topology {
    cluster: bool,
    /// On a cluster, which primary owns which slots.
    slots: SlotMap,
}

/// How a script is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScriptCall {
    /// `EVALSHA`, the script loaded once (one server).
    ByHash,
    /// `EVAL` with the whole script (every node of a cluster needs it).
    Whole,
}

impl Topology {
    pub(crate) fn of(config: &RedisConfig) -> Self {
        Topology { cluster: config.is_cluster(), slots: SlotMap::default() }
    }

    /// Whether one pipeline may carry commands on any keys: a lock and the key it guards, the
    /// plain keys of one `MGET`.
    pub(crate) fn one_pipeline(&self) -> bool {
        !self.cluster
    }

    /// How many lanes read coalescing keeps: one for one server; on a cluster one per primary
    /// up to a fixed number (past it, primaries share lanes, and only share their turns).
    pub(crate) fn lanes(&self) -> usize {
        if self.cluster { CLUSTER_LANES } else { 1 }
    }

    /// The lane of a read routed by `routing_key`: the lane of the primary that owns its slot,
    /// as far as this process knows (lane 0 when it does not).
    pub(crate) fn lane(&self, routing_key: &str) -> usize {
        if !self.cluster {
            return 0;
        }
        self.slots.place_of(cluster::slot(routing_key.as_bytes())).map_or(0, |place| place % CLUSTER_LANES)
    }

    /// Whether the set of primaries can change under the backend (a cluster's failover or
    /// resharding), so that what watches every primary must look again.
    pub(crate) fn primaries_may_change(&self) -> bool {
        self.cluster
    }

    /// How scripts are called.
    pub(crate) fn script_call(&self) -> ScriptCall {
        if self.cluster { ScriptCall::Whole } else { ScriptCall::ByHash }
    }

    /// The start of a call of the script `text` whose SHA-1 is `hash`, as
    /// [`script_call`](Topology::script_call) says; the caller adds the keys and arguments.
    pub(crate) fn script(&self, text: &str, hash: &str) -> redis::Cmd {
        match self.script_call() {
            ScriptCall::Whole => {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(text);
                cmd
            }
            ScriptCall::ByHash => {
                let mut cmd = redis::cmd("EVALSHA");
                cmd.arg(hash);
                cmd
            }
        }
    }

    /// The plain keys sorted into the runs one command may take, each run with its slot: all
    /// of them in one run on one server, one run per slot on a cluster.
    pub(crate) fn groups<'a>(&self, plain: &[(usize, &'a str)]) -> Groups<'a> {
        if plain.is_empty() {
            return Groups { keys: Vec::new(), runs: Vec::new() };
        }
        if !self.cluster {
            return Groups { keys: plain.to_vec(), runs: vec![(0, 0..plain.len())] };
        }
        let mut slotted: Vec<(u16, usize, &str)> =
            plain.iter().map(|&(i, k)| (cluster::slot(k.as_bytes()), i, k)).collect();
        slotted.sort_unstable_by_key(|&(slot, i, _)| (slot, i));
        let mut runs: Vec<(u16, std::ops::Range<usize>)> = Vec::new();
        for (at, &(slot, _, _)) in slotted.iter().enumerate() {
            match runs.last_mut() {
                Some((last, range)) if *last == slot => range.end = at + 1,
                _ => runs.push((slot, at..at + 1)),
            }
        }
        Groups { keys: slotted.into_iter().map(|(_, i, k)| (i, k)).collect(), runs }
    }

    /// Runs `commands` on `conn`, each with its own result: one pipeline on one server, one
    /// per node on a cluster (sent concurrently). The error is that of a whole round trip.
    pub(crate) async fn run(&self, conn: &mut Conn, commands: Commands<'_>) -> RedisResult<Vec<RedisResult<Value>>> {
        let Commands { list, .. } = commands;
        match conn {
            Conn::Cluster(cluster) => cluster::run(cluster, &self.slots, &list).await,
            Conn::Single(_) | Conn::Blocking(_) => {
                let mut pipe = redis::pipe();
                for (cmd, _) in list {
                    pipe.add_command(cmd);
                }
                pipe.ignore_errors().query_async(conn).await
            }
        }
    }
}

/// The commands of one multi-key call: each with the slot it runs on (used on a cluster), and
/// the key a failure of it is reported under.
#[derive(Default)]
pub(crate) struct Commands<'k> {
    list: Vec<(redis::Cmd, u16)>,
    owners: Vec<Option<&'k CacheKey>>,
}

impl<'k> Commands<'k> {
    /// Adds `cmd`, routed by `routing_key`, whose failure is reported under `owner`.
    pub(crate) fn push(&mut self, cmd: redis::Cmd, routing_key: &str, owner: Option<&'k CacheKey>) {
        self.push_in_slot(cmd, cluster::slot(routing_key.as_bytes()), owner);
    }

    /// Adds `cmd` on the keys of a run of [`Groups`] in `slot`.
    pub(crate) fn push_in_slot(&mut self, cmd: redis::Cmd, slot: u16, owner: Option<&'k CacheKey>) {
        self.list.push((cmd, slot));
        self.owners.push(owner);
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The key a failure of each command is reported under.
    pub(crate) fn owners(&self) -> &[Option<&'k CacheKey>] {
        &self.owners
    }
}

/// Keys sorted into runs, each run with the slot its keys share (see [`Topology::groups`]).
pub(crate) struct Groups<'a> {
    keys: Vec<(usize, &'a str)>,
    runs: Vec<(u16, std::ops::Range<usize>)>,
}

impl<'a> Groups<'a> {
    /// Each run's slot and keys (with their positions in the caller's list).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u16, &[(usize, &'a str)])> {
        self.runs.iter().map(|(slot, range)| (*slot, &self.keys[range.clone()]))
    }
}
