//! A region's public calls: their errors counted; each in a `tracing` span (with the `tracing`
//! feature) and timed into the operation histogram (with the `metrics` feature), neither of
//! which costs anything without its feature.

use std::future::Future;

use crate::error::Result;
use crate::key::CacheKey;

use super::Region;

/// A kind of region call, as spans and the operation histogram name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Get,
    GetMulti,
    Set,
    SetMulti,
    Delete,
    DeleteMulti,
    GetOrCreate,
    GetOrCreateMulti,
}

impl Operation {
    /// Every operation, in declaration order (`op as usize` indexes it).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) const ALL: [Operation; 8] = [
        Operation::Get,
        Operation::GetMulti,
        Operation::Set,
        Operation::SetMulti,
        Operation::Delete,
        Operation::DeleteMulti,
        Operation::GetOrCreate,
        Operation::GetOrCreateMulti,
    ];

    #[cfg_attr(not(any(feature = "metrics", feature = "tracing")), allow(dead_code))]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::GetMulti => "get_multi",
            Operation::Set => "set",
            Operation::SetMulti => "set_multi",
            Operation::Delete => "delete",
            Operation::DeleteMulti => "delete_multi",
            Operation::GetOrCreate => "get_or_create",
            Operation::GetOrCreateMulti => "get_or_create_multi",
        }
    }
}

impl Region {
    /// `call`, its error counted in the region's stats; with `tracing`, in a debug span
    /// `dogpile.region` (fields `operation`, `region`, and `key` or the number of `keys`); with
    /// `metrics`, its duration recorded in the operation histogram.
    pub(crate) async fn observed<T, F>(&self, op: Operation, key: Option<&CacheKey>, keys: usize, call: F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        #[cfg(feature = "tracing")]
        let call = {
            use tracing::Instrument;
            let span = tracing::debug_span!(
                target: "dogpile",
                "dogpile.region",
                operation = op.name(),
                region = self.inner.name.as_deref().unwrap_or(""),
                key = tracing::field::Empty,
                keys,
            );
            if let Some(key) = key
                && !span.is_disabled()
            {
                span.record("key", tracing::field::display(super::trace::Logged(key, self.inner.key_logging)));
            }
            call.instrument(span)
        };
        #[cfg(not(feature = "tracing"))]
        let _ = (key, keys);
        let done = call.await;
        if let Err(err) = &done {
            self.inner.stats.error(err);
        }
        #[cfg(feature = "metrics")]
        self.inner.stats.operation(op, started.elapsed());
        #[cfg(not(feature = "metrics"))]
        let _ = op;
        done
    }
}
