//! A region's public calls: their errors counted; each in a `tracing` span (with the `tracing`
//! feature) and timed into the operation histogram (with the `metrics` feature), neither of
//! which costs anything without its feature.

#[cfg(any(feature = "tracing", feature = "metrics"))]
use {super::Region, crate::error::Result, crate::key::KeyRef, std::future::Future};

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

/// `$call.await`, its error counted in the region's stats; with `tracing` or `metrics`,
/// through [`Region::observed`]. Without them the call is awaited in place, not moved into a
/// wrapping future: the hit path pays nothing for what is not compiled in.
macro_rules! observed {
    ($region:expr, $op:expr, $key:expr, $keys:expr, $call:expr $(,)?) => {{
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        let done = $region.observed($op, $key, $keys, $call).await;
        #[cfg(not(any(feature = "tracing", feature = "metrics")))]
        let done = {
            let _: ($crate::region::Operation, Option<$crate::KeyRef<'_>>, usize) = ($op, $key, $keys);
            let done = $call.await;
            if let Err(err) = &done {
                $region.inner.stats.error(err);
            }
            done
        };
        done
    }};
}
pub(crate) use observed;

#[cfg(any(feature = "tracing", feature = "metrics"))]
impl Region {
    /// `call`, its error counted in the region's stats; with `tracing`, in a debug span
    /// `dogpile.region` (fields `operation`, `region`, and `key` or the number of `keys`); with
    /// `metrics`, its duration recorded in the operation histogram.
    pub(crate) fn observed<T, F>(&self, op: Operation, key: Option<KeyRef<'_>>, keys: usize, call: F) -> Observed<'_, F>
    where
        F: Future<Output = Result<T>>,
    {
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
        Observed {
            call,
            region: self,
            op,
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
            #[cfg(not(feature = "metrics"))]
            started: (),
        }
    }
}

#[cfg(feature = "tracing")]
type Spanned<F> = tracing::instrument::Instrumented<F>;
#[cfg(all(feature = "metrics", not(feature = "tracing")))]
type Spanned<F> = F;

/// When the call began, for the operation histogram; nothing without `metrics`.
#[cfg(feature = "metrics")]
type Started = std::time::Instant;
#[cfg(all(feature = "tracing", not(feature = "metrics")))]
type Started = ();

#[cfg(any(feature = "tracing", feature = "metrics"))]
pin_project_lite::pin_project! {
    /// A region call as [`Region::observed`] wraps it: a future that holds the call in place,
    /// not a second copy of it, so that what the caller awaits (or boxes) is no larger than
    /// the call itself.
    pub(crate) struct Observed<'r, F> {
        #[pin]
        call: Spanned<F>,
        region: &'r Region,
        op: Operation,
        started: Started,
    }
}

#[cfg(any(feature = "tracing", feature = "metrics"))]
impl<T, F: Future<Output = Result<T>>> Future for Observed<'_, F> {
    type Output = Result<T>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<T>> {
        let this = self.project();
        let done = std::task::ready!(this.call.poll(cx));
        if let Err(err) = &done {
            this.region.inner.stats.error(err);
        }
        #[cfg(feature = "metrics")]
        this.region.inner.stats.operation(*this.op, this.started.elapsed());
        #[cfg(not(feature = "metrics"))]
        let _ = (this.op, this.started);
        std::task::Poll::Ready(done)
    }
}
