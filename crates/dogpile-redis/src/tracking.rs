//! Redis key tracking (server-assisted client-side caching) as the invalidation source of an
//! L1.
//!
//! A connection of its own, in RESP3, asks for `CLIENT TRACKING ON BCAST` over the L1's
//! prefixes (every key without prefixes): the server then pushes the name of every key
//! written, deleted, expired or evicted by any client, and the L1 drops what it holds under
//! that name. The push handler runs on the connection's reader, so an invalidation is applied
//! before anything read after it on that connection is handed on.
//!
//! The L1 serves only while the subscription is known to be up: it starts pending, resumes
//! once the server accepted the tracking, and is flushed and suspended when the connection
//! drops or stops answering the health check, until a new connection tracks again. Between a
//! silent loss of the connection and its detection, writes elsewhere can go unseen: that
//! window is bounded by [`HEALTH_INTERVAL`] plus [`HEALTH_TIMEOUT`].

use std::sync::{Arc, Weak};
use std::time::Duration;

use dogpile::backend::{Backend, L1Backend, L1Builder, L1Invalidator};
use dogpile::{Error, Result};
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

/// `backend` with an L1 in front, kept coherent by key tracking on `store`'s server.
pub(crate) fn l1<B: Backend>(store: &Arc<Store>, backend: B, l1: L1Builder) -> Result<L1Backend<B>> {
    if store.config.is_cluster() {
        return Err(Error::config(
            "l1",
            "an L1 needs key tracking on one server (or a Sentinel-managed primary); a cluster is not supported yet",
        ));
    }
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
    let client = current.connection.tracking_client().await;
    let shown_url = current.config.redacted_url();
    drop(current);
    let client = match client {
        Ok(client) => client,
        Err(err) => return Ended::Lost(format!("key tracking cannot reach {shown_url}: {}", kind_text(&err))),
    };
    let lost = Arc::new(Notify::new());
    let sink = invalidator.clone();
    let dropped = Arc::clone(&lost);
    let config = AsyncConnectionConfig::new()
        .set_response_timeout(Some(HEALTH_TIMEOUT))
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_push_sender(move |push: PushInfo| -> std::result::Result<(), ()> {
            match push.kind {
                PushKind::Invalidate => apply(&sink, push.data),
                PushKind::Disconnection => {
                    sink.suspend("the key tracking connection dropped");
                    dropped.notify_one();
                }
                _ => {}
            }
            Ok(())
        });
    let mut connection = match client.get_multiplexed_async_connection_with_config(&config).await {
        Ok(connection) => connection,
        Err(err) if err.kind() == ErrorKind::RESP3NotSupported => {
            return Ended::Refused(format!(
                "{shown_url} cannot track keys for an L1: it does not speak RESP3 (Redis 6 or later does)"
            ));
        }
        Err(err) => return Ended::Lost(format!("key tracking cannot connect to {shown_url}: {}", kind_text(&err))),
    };
    let mut tracking = redis::cmd("CLIENT");
    tracking.arg("TRACKING").arg("ON").arg("BCAST");
    for prefix in invalidator.prefixes() {
        tracking.arg("PREFIX").arg(prefix);
    }
    match tracking.query_async::<()>(&mut connection).await {
        Ok(()) => invalidator.resume(),
        Err(err) if matches!(err.kind(), ErrorKind::Server(_) | ErrorKind::Extension) => {
            return Ended::Refused(format!("{shown_url} cannot track keys for an L1: {err}"));
        }
        Err(err) => return Ended::Lost(format!("key tracking on {shown_url} failed: {}", kind_text(&err))),
    }
    loop {
        if tokio::time::timeout(HEALTH_INTERVAL, lost.notified()).await.is_ok() {
            return Ended::Lost(format!("the key tracking connection to {shown_url} dropped"));
        }
        if !invalidator.is_alive() || store.strong_count() == 0 {
            return Ended::Done;
        }
        if let Err(err) = redis::cmd("PING").query_async::<()>(&mut connection).await {
            return Ended::Lost(format!(
                "the key tracking connection to {shown_url} stopped answering: {}",
                kind_text(&err)
            ));
        }
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
