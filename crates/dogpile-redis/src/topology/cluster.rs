//! Multi-key operations on a Redis Cluster.
//!
//! The commands of one call are grouped by the primary that owns their slots (from the
//! cluster's `CLUSTER SLOTS`, kept here and refreshed on a redirection), one pipeline per
//! primary, the pipelines sent concurrently: one round trip per node involved. A command that
//! comes back redirected (`MOVED` after a failover or a finished slot migration, `ASK` during
//! one, `TRYAGAIN` for a multi-key command while its slot moves) is sent again to its new
//! owner, with `ASKING` for an `ASK`; every other reply stays in the caller's order.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redis::aio::ConnectionLike;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, RedisError, RedisResult, ServerErrorKind, Value};

/// How many times a redirected command is sent again before its redirection is the error.
const ROUNDS: usize = 6;

/// The slot of a key: CRC16 (XMODEM) of the key, or of its hash tag (the part between the
/// first `{` and the next `}`, when not empty), modulo 16384.
pub(crate) fn slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        rest.iter().position(|&b| b == b'}').filter(|&close| close > 0).map(|close| &rest[..close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(key)) % 16384
}

/// Which primary owns which slots, as far as this process knows.
#[derive(Default)]
pub(crate) struct SlotMap {
    ranges: RwLock<Known>,
}

/// The slot ranges (first slot, last slot, `host:port` of the primary), sorted, and when they
/// were read; then each range's primary as its place among the primaries sorted by address.
type Known = (Vec<(u16, u16, Addr)>, Option<Instant>, Vec<usize>);

/// A node's `host` and `port`, shared by the slot ranges it owns.
type Addr = Arc<(String, u16)>;

impl SlotMap {
    /// The node owning `slot`, if known.
    fn node_of(&self, slot: u16) -> Option<Addr> {
        let guard = self.ranges.read().unwrap_or_else(|p| p.into_inner());
        let ranges = &guard.0;
        let at = ranges.partition_point(|(_, end, _)| *end < slot);
        match ranges.get(at) {
            Some((start, _, node)) if *start <= slot => Some(Arc::clone(node)),
            _ => None,
        }
    }

    /// The place of the node owning `slot` among the primaries (sorted by address), if known:
    /// a number per primary, from 0.
    pub(crate) fn place_of(&self, slot: u16) -> Option<usize> {
        let guard = self.ranges.read().unwrap_or_else(|p| p.into_inner());
        let at = guard.0.partition_point(|(_, end, _)| *end < slot);
        match guard.0.get(at) {
            Some((start, _, _)) if *start <= slot => guard.2.get(at).copied(),
            _ => None,
        }
    }

    fn is_empty(&self) -> bool {
        self.ranges.read().unwrap_or_else(|p| p.into_inner()).0.is_empty()
    }

    /// Reads `CLUSTER SLOTS` from some node, at most every 100 ms.
    async fn refresh(&self, conn: &mut ClusterConnection) {
        let recent = self.ranges.read().unwrap_or_else(|p| p.into_inner()).1;
        if recent.is_some_and(|at| at.elapsed() < Duration::from_millis(100)) {
            return;
        }
        let reply = conn
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                redis::cluster_routing::RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await;
        let mut ranges = match reply {
            Ok(Value::Array(items)) => items.iter().filter_map(parse_range).collect::<Vec<_>>(),
            _ => return,
        };
        ranges.sort();
        let mut nodes: Vec<&Addr> = ranges.iter().map(|(_, _, node)| node).collect();
        nodes.sort();
        nodes.dedup();
        let places = ranges.iter().map(|(_, _, node)| nodes.binary_search(&node).unwrap_or(0)).collect();
        *self.ranges.write().unwrap_or_else(|p| p.into_inner()) = (ranges, Some(Instant::now()), places);
    }
}

/// The primaries (`host`, `port`) that a `CLUSTER SLOTS` reply names, sorted, each once.
pub(crate) fn primaries(reply: &Value) -> Vec<(String, u16)> {
    let Value::Array(items) = reply else { return Vec::new() };
    let mut primaries: Vec<(String, u16)> =
        items.iter().filter_map(parse_range).map(|(_, _, addr)| (addr.0.clone(), addr.1)).collect();
    primaries.sort();
    primaries.dedup();
    primaries
}

fn parse_range(item: &Value) -> Option<(u16, u16, Addr)> {
    let Value::Array(parts) = item else { return None };
    let number = |v: &Value| match v {
        Value::Int(n) => u16::try_from(*n).ok(),
        _ => None,
    };
    let (start, end) = (number(parts.first()?)?, number(parts.get(1)?)?);
    let Value::Array(primary) = parts.get(2)? else { return None };
    let host = match primary.first()? {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        _ => return None,
    };
    let Value::Int(port) = primary.get(1)? else { return None };
    Some((start, end, Arc::new((host, u16::try_from(*port).ok()?))))
}

/// Where a command goes next.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    /// The primary of its slot, as this process knows it.
    Slot,
    /// This node: the one a `MOVED` named, or, with `ASKING` first, an `ASK` (during a slot
    /// migration).
    At { host: String, port: u16, asking: bool },
}

/// The nodes a group of commands is sent to, and how.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    /// The node's address, and whether each command goes after `ASKING`.
    Addr(Addr, bool),
    /// A slot whose owner this process does not know: the client routes by slot.
    Unknown(u16),
}

fn node_for(slots: &SlotMap, target: &Target, slot: u16) -> Node {
    match target {
        Target::At { host, port, asking } => Node::Addr(Arc::new((host.clone(), *port)), *asking),
        Target::Slot => match slots.node_of(slot) {
            Some(addr) => Node::Addr(addr, false),
            None => Node::Unknown(slot),
        },
    }
}

/// Runs `commands` (each with the slot it must run on) and returns their results in order;
/// a command's own error reply is its result. The error is the connection's, or the last
/// redirection of a command that was still redirected after several rounds.
pub(crate) async fn run(
    conn: &ClusterConnection,
    slots: &SlotMap,
    commands: &[(Cmd, u16)],
) -> RedisResult<Vec<RedisResult<Value>>> {
    let mut conn = conn.clone();
    if slots.is_empty() {
        slots.refresh(&mut conn).await;
    }
    let mut rounds = Rounds {
        replies: (0..commands.len()).map(|_| None).collect(),
        pending: (0..commands.len()).map(|i| (i, Target::Slot)).collect(),
        last_redirect: None,
        refresh: false,
        wait: false,
    };
    for round in 0..ROUNDS {
        let mut groups: BTreeMap<Node, Vec<usize>> = BTreeMap::new();
        for (i, target) in rounds.pending.drain(..) {
            groups.entry(node_for(slots, &target, commands[i].1)).or_default().push(i);
        }
        let sends = groups.into_iter().map(|(node, group)| send(conn.clone(), node, group, commands));
        (rounds.refresh, rounds.wait) = (false, false);
        for (group, sent) in futures_util::future::join_all(sends).await {
            rounds.take(group, sent)?;
        }
        if rounds.pending.is_empty() {
            break;
        }
        if rounds.refresh {
            slots.refresh(&mut conn).await;
        }
        if rounds.wait || round > 1 {
            tokio::time::sleep(Duration::from_millis(20 << round.min(4))).await;
        }
    }
    if !rounds.pending.is_empty() {
        return Err(rounds.last_redirect.unwrap_or_else(|| {
            RedisError::from((redis::ErrorKind::Io, "cluster commands still redirected after several attempts"))
        }));
    }
    Ok(rounds.replies.into_iter().map(|r| r.unwrap_or(Ok(Value::Nil))).collect())
}

/// Sends the commands of `group` to `node` in one pipeline (each after `ASKING` for an `ASK`
/// redirection).
async fn send(
    mut conn: ClusterConnection,
    node: Node,
    group: Vec<usize>,
    commands: &[(Cmd, u16)],
) -> (Vec<usize>, Sent) {
    let mut pipe = redis::pipe();
    let (route, asking) = match &node {
        Node::Addr(addr, asking) => (SingleNodeRoutingInfo::ByAddress { host: addr.0.clone(), port: addr.1 }, *asking),
        Node::Unknown(slot) => (SingleNodeRoutingInfo::SpecificNode(Route::new(*slot, SlotAddr::Master)), false),
    };
    for &i in &group {
        if asking {
            pipe.cmd("ASKING");
        }
        pipe.add_command(commands[i].0.clone());
    }
    let count = if asking { group.len() * 2 } else { group.len() };
    match conn.route_pipeline(pipe, 0, count, route).await {
        Ok(values) => {
            let values = if asking { values.into_iter().skip(1).step_by(2).collect() } else { values };
            (group, Sent::Pipeline(values))
        }
        // The client redirects a pipeline as a whole, after the first command that needs it,
        // which cannot succeed when the slots of its commands went to different nodes (a
        // migration under way, a failover): these commands go one by one, each routed and
        // redirected on its own.
        Err(err) if needs_singles(&err) => {
            let singles = group.iter().map(|&i| {
                let mut conn = conn.clone();
                async move { conn.req_packed_command(&commands[i].0).await }
            });
            let results = futures_util::future::join_all(singles).await;
            (group, Sent::Singles(results))
        }
        Err(err) => (group, Sent::Failed(err)),
    }
}

/// What a run knows between its rounds.
struct Rounds {
    /// Each command's result, once it has one.
    replies: Vec<Option<RedisResult<Value>>>,
    /// The commands redirected, and where they go next.
    pending: Vec<(usize, Target)>,
    last_redirect: Option<RedisError>,
    /// This round learnt that the slot map is out of date.
    refresh: bool,
    /// This round met a cluster that is not ready (`TRYAGAIN`, `CLUSTERDOWN`).
    wait: bool,
}

impl Rounds {
    /// Takes what a group came back as: the results, and the redirections to follow.
    fn take(&mut self, group: Vec<usize>, sent: Sent) -> RedisResult<()> {
        let values = match sent {
            Sent::Pipeline(values) => values,
            Sent::Singles(results) => {
                self.refresh = true;
                for (i, result) in group.into_iter().zip(results) {
                    self.replies[i] = Some(result.and_then(reply));
                }
                return Ok(());
            }
            Sent::Failed(err) => return Err(err),
        };
        for (i, value) in group.into_iter().zip(values) {
            let next = match redirection(&value) {
                Some((ServerErrorKind::Moved, Some((host, port)))) => {
                    self.refresh = true;
                    Target::At { host, port, asking: false }
                }
                Some((ServerErrorKind::Ask, Some((host, port)))) => Target::At { host, port, asking: true },
                Some(_) => {
                    (self.wait, self.refresh) = (true, true);
                    Target::Slot
                }
                None => {
                    self.replies[i] = Some(reply(value));
                    continue;
                }
            };
            self.last_redirect = error_of(value);
            self.pending.push((i, next));
        }
        Ok(())
    }
}

/// A command's value, its error reply as an error.
fn reply(value: Value) -> RedisResult<Value> {
    match value {
        Value::ServerError(err) => Err(err.into()),
        value => Ok(value),
    }
}

/// What one node's group came back as.
enum Sent {
    Pipeline(Vec<Value>),
    Singles(Vec<RedisResult<Value>>),
    Failed(RedisError),
}

/// True for a pipeline the client gave up redirecting as a whole, or sent to a node it no
/// longer has.
fn needs_singles(err: &RedisError) -> bool {
    matches!(
        err.kind(),
        redis::ErrorKind::Server(
            ServerErrorKind::Moved | ServerErrorKind::Ask | ServerErrorKind::TryAgain | ServerErrorKind::ClusterDown
        ) | redis::ErrorKind::ClusterConnectionNotFound
    ) || err.is_io_error()
        || err.is_connection_dropped()
}

/// A reply that sends the command elsewhere or asks to try again: its kind and, for `MOVED`
/// and `ASK`, the node.
fn redirection(value: &Value) -> Option<(ServerErrorKind, Option<(String, u16)>)> {
    let Value::ServerError(err) = value else { return None };
    let kind = err.kind()?;
    match kind {
        ServerErrorKind::TryAgain | ServerErrorKind::ClusterDown => Some((kind, None)),
        ServerErrorKind::Moved | ServerErrorKind::Ask => {
            let mut words = err.details()?.split_ascii_whitespace();
            let _slot = words.next()?;
            let (host, port) = words.next()?.rsplit_once(':')?;
            Some((kind, Some((host.to_owned(), port.parse().ok()?))))
        }
        _ => None,
    }
}

fn error_of(value: Value) -> Option<RedisError> {
    match value {
        Value::ServerError(err) => Some(err.into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_as_the_cluster_computes_them() {
        // The examples of the cluster specification and of CLUSTER KEYSLOT.
        assert_eq!(slot(b"123456789"), 12739);
        assert_eq!(slot(b"somekey"), 11058);
        assert_eq!(slot(b"foo{hash_tag}"), 2515);
        assert_eq!(slot(b"foo{hash_tag}"), slot(b"hash_tag"));
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
    }
}
