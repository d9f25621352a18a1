//! Redis key tracking (server-assisted client-side caching) as the invalidation source of an
//! L1.
//!
//! A connection of its own to each primary (the server; the primary the sentinels name; every
//! primary of a cluster), in RESP3, asks for `CLIENT TRACKING ON BCAST` over the L1's
//! prefixes (every key without prefixes): the server then pushes the name of every key
//! written, deleted, expired or evicted by any client, and the L1 drops what it holds under
//! that name. The push handler runs on the connection's reader, so an invalidation is applied
//! before anything read after it on that connection is handed on.
//!
//! The L1 serves only while every subscription is known to be up: it starts pending, resumes
//! once every primary accepted the tracking, and is flushed and suspended when a connection
//! drops or stops answering the health check, or when a cluster's primaries are no longer
//! the ones tracked (a failover, a node added), until new connections track again. Between a
//! silent loss of a connection and its detection, writes elsewhere can go unseen: that window
//! is bounded by [`HEALTH_INTERVAL`] plus [`HEALTH_TIMEOUT`].

use std::sync::{Arc, Weak};
use std::time::Duration;

use dogpile::backend::{Backend, L1Backend, L1Builder, L1Invalidator};
use dogpile::{Error, Result};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, PushInfo, PushKind, Value};
use tokio::sync::Notify;

use crate::store::Store;

/// How often the tracking connection is checked with a PING.
const HEALTH_INTERVAL: Duration = Duration::from_millis(500);
/// How long a PING may take before the connection is taken for lost.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(500);
/// How long connecting the tracking connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The pause between attempts to track again.
const RETRY: Duration = Duration::from_millis(200);

/// `backend` with an L1 in front, kept coherent by key tracking on `store`'s primaries.
pub(crate) fn l1<B: Backend>(store: &Arc<Store>, backend: B, l1: L1Builder) -> Result<L1Backend<B>> {
    store.config.needs_own_connections("l1")?;
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Err(Error::config(
            "l1",
            "an L1 over Redis starts its key tracking on a Tokio runtime: build it on one",
        ));
    };
    let backend = l1.build_pending(backend);
    let invalidator = backend.invalidator();
    let task = runtime.spawn(track(Arc::downgrade(store), invalidator.clone()));
    invalidator.keep(AbortOnDrop(task));
    Ok(backend)
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How a tracking session ended.
enum Ended {
    /// The server cannot track: give up.
    Refused(String),
    /// The connection failed or dropped: try again.
    Lost(String),
    /// The L1 or the backend is gone.
    Done,
}

/// Tracks, again and again, until the L1 or the backend is gone or the server refuses.
async fn track(store: Weak<Store>, invalidator: L1Invalidator) {
    loop {
        match session(&store, &invalidator).await {
            Ended::Refused(reason) => {
                invalidator.refuse(reason);
                return;
            }
            Ended::Lost(reason) => invalidator.suspend(reason),
            Ended::Done => return,
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn session(store: &Weak<Store>, invalidator: &L1Invalidator) -> Ended {
    let Some(current) = store.upgrade() else { return Ended::Done };
    let clients = current.connection.tracking_clients().await;
    let shown_url = current.config.redacted_url();
    let cluster = current.topology().primaries_may_change();
    drop(current);
    let clients = match clients {
        Ok(clients) => clients,
        Err(err) => return Ended::Lost(format!("key tracking cannot reach {shown_url}: {}", kind_text(&err))),
    };
    let lost = Arc::new(Notify::new());
    let mut connections = Vec::with_capacity(clients.len());
    for client in &clients {
        match tracking(client, invalidator, &lost, &shown_url).await {
            Ok(connection) => connections.push(connection),
            Err(ended) => return ended,
        }
    }
    let tracked: Vec<String> = clients.iter().map(|c| c.get_connection_info().addr().to_string()).collect();
    invalidator.resume();
    loop {
        if tokio::time::timeout(HEALTH_INTERVAL, lost.notified()).await.is_ok() {
            return Ended::Lost(format!("a key tracking connection to {shown_url} dropped"));
        }
        if !invalidator.is_alive() || store.strong_count() == 0 {
            return Ended::Done;
        }
        for connection in &mut connections {
            if let Err(err) = redis::cmd("PING").query_async::<()>(connection).await {
                return Ended::Lost(format!(
                    "a key tracking connection to {shown_url} stopped answering: {}",
                    kind_text(&err)
                ));
            }
        }
        if cluster
            && let Some(connection) = connections.first_mut()
            && let Some(changed) = primaries_changed(connection, &tracked).await
        {
            return Ended::Lost(changed);
        }
    }
}

/// A connection to the primary of `client` that tracks the L1's prefixes, its invalidations
/// applied as they come and its loss notified to `lost`.
async fn tracking(
    client: &redis::Client,
    invalidator: &L1Invalidator,
    lost: &Arc<Notify>,
    shown_url: &str,
) -> std::result::Result<MultiplexedConnection, Ended> {
    let sink = invalidator.clone();
    let dropped = Arc::clone(lost);
    let config = AsyncConnectionConfig::new()
        .set_response_timeout(Some(HEALTH_TIMEOUT))
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_push_sender(move |push: PushInfo| -> std::result::Result<(), ()> {
            match push.kind {
                PushKind::Invalidate => apply(&sink, push.data),
                PushKind::Disconnection => {
                    sink.suspend("a key tracking connection dropped");
                    dropped.notify_one();
                }
                _ => {}
            }
            Ok(())
        });
    let mut connection = match client.get_multiplexed_async_connection_with_config(&config).await {
        Ok(connection) => connection,
        Err(err) if err.kind() == ErrorKind::RESP3NotSupported => {
            return Err(Ended::Refused(format!(
                "{shown_url} cannot track keys for an L1: it does not speak RESP3 (Redis 6 or later does)"
            )));
        }
        Err(err) => {
            return Err(Ended::Lost(format!("key tracking cannot connect to {shown_url}: {}", kind_text(&err))));
        }
    };
    let mut tracking = redis::cmd("CLIENT");
    tracking.arg("TRACKING").arg("ON").arg("BCAST");
    for prefix in invalidator.prefixes() {
        tracking.arg("PREFIX").arg(prefix);
    }
    match tracking.query_async::<()>(&mut connection).await {
        Ok(()) => Ok(connection),
        Err(err) if matches!(err.kind(), ErrorKind::Server(_) | ErrorKind::Extension) => {
            Err(Ended::Refused(format!("{shown_url} cannot track keys for an L1: {err}")))
        }
        Err(err) => Err(Ended::Lost(format!("key tracking on {shown_url} failed: {}", kind_text(&err)))),
    }
}

/// Why the cluster's primaries are no longer the `tracked` ones, if they are not (or cannot
/// be read): a failover or a new node leaves writes on a primary that no connection tracks.
/// Asked on a tracking connection, which is open already.
async fn primaries_changed(connection: &mut MultiplexedConnection, tracked: &[String]) -> Option<String> {
    match redis::cmd("CLUSTER").arg("SLOTS").query_async::<Value>(connection).await {
        Ok(reply) => {
            let now: Vec<String> = crate::topology::cluster::primaries(&reply)
                .iter()
                .map(|(host, port)| format!("{host}:{port}"))
                .collect();
            (now != tracked).then(|| "the cluster's primaries changed".to_owned())
        }
        Err(err) => Some(format!("the cluster's primaries cannot be read: {}", kind_text(&err))),
    }
}

/// Applies one invalidation push: the names of the keys changed, or nil for a flushed
/// database.
fn apply(invalidator: &L1Invalidator, data: Vec<Value>) {
    for value in data {
        match value {
            Value::Array(names) | Value::Set(names) => {
                for name in names {
                    if let Value::BulkString(name) = name {
                        invalidator.invalidate(&name);
                    }
                }
            }
            Value::BulkString(name) => invalidator.invalidate(&name),
            Value::Nil => invalidator.invalidate_all(),
            _ => {}
        }
    }
}

/// What to show of a Redis error: its kind and, for server errors, the server's words (which
/// hold no credentials), never the URL.
fn kind_text(err: &redis::RedisError) -> String {
    match err.kind() {
        ErrorKind::Server(_) => err.to_string(),
        kind => format!("{kind:?}"),
    }
}
