//! A connection that sends each command and reads its reply on the thread that polls it,
//! blocking that thread: for a caller that drives a single-threaded runtime of its own, one
//! call at a time, and waits anyway (`blocking_io`). A command costs a write and a read, as
//! on a plain socket: no driver task, no channel, no wake-up of another task.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// One blocking connection, shared by the clones of its handle (one thread uses it at a
/// time: the mutex is never contended in the use it is made for, and keeps it sound if not).
#[derive(Clone)]
pub(crate) struct Blocking {
    connection: Arc<Mutex<redis::Connection>>,
    db: i64,
}

impl Blocking {
    /// Connects to `client`'s server, with these timeouts for connecting and for each reply.
    pub(super) fn connect(
        client: &redis::Client,
        connect_timeout: Option<Duration>,
        reply_timeout: Option<Duration>,
    ) -> RedisResult<Blocking> {
        let connection = match connect_timeout {
            Some(timeout) => client.get_connection_with_timeout(timeout)?,
            None => client.get_connection()?,
        };
        connection.set_read_timeout(reply_timeout)?;
        connection.set_write_timeout(reply_timeout)?;
        let db = client.get_connection_info().redis_settings().db();
        Ok(Blocking { connection: Arc::new(Mutex::new(connection)), db })
    }

    fn lock(&self) -> MutexGuard<'_, redis::Connection> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl redis::aio::ConnectionLike for Blocking {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let reply = redis::ConnectionLike::req_command(&mut *self.lock(), cmd);
        Box::pin(std::future::ready(reply))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let packed = pipeline.get_packed_pipeline();
        let replies = redis::ConnectionLike::req_packed_commands(&mut *self.lock(), &packed, offset, count);
        Box::pin(std::future::ready(replies))
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}
