//! From `redis::RedisError` to `dogpile::Error`.

use dogpile::{BackendErrorKind, CacheKey, Error};

/// Maps a Redis error to [`Error::Backend`], keeping the Redis error (and its `kind()`) as the
/// source. Redis errors never carry the connection URL, so no credentials leak through them.
pub(crate) fn backend_error(err: redis::RedisError, key: Option<&CacheKey>) -> Error {
    Error::Backend { kind: kind_of(&err), key: key.cloned(), source: Box::new(err) }
}

/// One kind per cause, whenever it happens (at the first connection or mid-run).
pub(crate) fn kind_of(err: &redis::RedisError) -> BackendErrorKind {
    match err.code() {
        Some("WRONGTYPE") => return BackendErrorKind::WrongType,
        Some("NOAUTH" | "WRONGPASS" | "NOPERM") => return BackendErrorKind::Authentication,
        Some(code) if is_refusing_writes(code) => return BackendErrorKind::WritesRefused,
        // The server is there but cannot serve yet (loading its data set, no primary).
        Some("LOADING" | "MASTERDOWN") => return BackendErrorKind::Connection,
        _ => {}
    }
    if err.kind() == redis::ErrorKind::AuthenticationFailed {
        BackendErrorKind::Authentication
    } else if err.is_timeout() {
        BackendErrorKind::Timeout
    } else if err.is_io_error() || err.is_connection_refusal() || err.is_connection_dropped() {
        BackendErrorKind::Connection
    } else {
        BackendErrorKind::Other
    }
}

/// The codes of a server that refuses every write.
pub(crate) fn is_refusing_writes(code: &str) -> bool {
    matches!(code, "OOM" | "READONLY" | "MISCONF" | "NOREPLICAS")
}

/// True for a script that the server does not have (NOSCRIPT: it restarted, or its scripts
/// were flushed).
pub(crate) fn is_no_script(err: &redis::RedisError) -> bool {
    err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
}
