//! From `redis::RedisError` to `dogpile::Error`.

use dogpile::{BackendErrorKind, CacheKey, Error};

/// Maps a Redis error to [`Error::Backend`], keeping the Redis error (and its `kind()`) as the
/// source. Redis errors never carry the connection URL, so no credentials leak through them.
pub(crate) fn backend_error(err: redis::RedisError, key: Option<&CacheKey>) -> Error {
    let kind = if err.is_timeout() {
        BackendErrorKind::Timeout
    } else if err.code() == Some("WRONGTYPE") {
        BackendErrorKind::WrongType
    } else if err.is_io_error() || err.is_connection_refusal() || err.is_connection_dropped() {
        BackendErrorKind::Connection
    } else {
        BackendErrorKind::Other
    };
    Error::Backend { kind, key: key.cloned(), source: Box::new(err) }
}
