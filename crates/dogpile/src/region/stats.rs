//! Counters of what the region did, declared once in [`region_counters!`]'s table: each row
//! gives the [`RegionStats`] field, the [`Count`] a path bumps, the `metrics` counter and its
//! description, and the table in [`RegionStats`]' documentation comes from the same rows.

use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(feature = "metrics")]
use crate::error::BackendErrorKind;
use crate::error::Error;
use crate::lock::Outcome;
use crate::striped::Striped;

/// A counter cell: plain, or striped for the counters every hit bumps.
trait Cell: Default {
    fn add(&self, n: u64);
    fn get(&self) -> u64;
}

impl Cell for AtomicU64 {
    fn add(&self, n: u64) {
        self.fetch_add(n, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.load(Ordering::Relaxed)
    }
}

impl Cell for Striped {
    fn add(&self, n: u64) {
        Striped::add(self, n);
    }
    fn get(&self) -> u64 {
        Striped::get(self)
    }
}

/// Declares the region's counters from one table: the snapshot [`RegionStats`] (with its
/// documentation table), the [`Count`] names, the cells, the `metrics` handles and their
/// descriptions. `backend_errors`, counted by kind, is the one counter written by hand.
macro_rules! region_counters {
    ($( #[doc = $doc:literal] $field:ident: $cell:ident, $count:ident => $metric:ident; )+) => {
        /// A snapshot of a region's counters since it was built.
        ///
        /// With the `metrics` feature each field is also a counter, labelled by region and
        /// backend:
        ///
        /// | field | metric | what it counts |
        /// |---|---|---|
        /// | `backend_errors` | [`BACKEND_ERRORS`](crate::metrics::BACKEND_ERRORS) | Failed backend calls, by kind |
        #[doc = concat!($( "| `", stringify!($field), "` | [`", stringify!($metric), "`](crate::metrics::",
            stringify!($metric), ") |", $doc, " |\n", )+)]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct RegionStats {
            $( #[doc = $doc] pub $field: u64, )+
            /// Failed backend calls, whether a caller saw the error or it went to the error sink.
            pub backend_errors: u64,
        }

        /// What a read path counts.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Count {
            $( #[doc = $doc] $count, )+
        }

        /// The region's counters, mirrored into its `metrics` handles with that feature.
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $( $field: $cell, )+
            backend_errors: AtomicU64,
            #[cfg(feature = "metrics")]
            metrics: RegionMetrics,
        }

        impl Counters {
            /// Adds `n` to `count`.
            pub(crate) fn add(&self, count: Count, n: u64) {
                match count {
                    $( Count::$count => {
                        self.$field.add(n);
                        #[cfg(feature = "metrics")]
                        self.metrics.counters.$field.increment(n);
                    } )+
                }
            }

            pub(crate) fn snapshot(&self) -> RegionStats {
                RegionStats { $( $field: self.$field.get(), )+ backend_errors: self.backend_errors.get() }
            }
        }

        /// The counters' `metrics` handles.
        #[cfg(feature = "metrics")]
        struct CounterHandles {
            $( $field: metrics::Counter, )+
        }

        #[cfg(feature = "metrics")]
        impl CounterHandles {
            fn new(labels: &[metrics::Label]) -> Self {
                CounterHandles { $( $field: metrics::counter!(crate::metrics::$metric, labels.to_vec()), )+ }
            }

            fn noop() -> Self {
                CounterHandles { $( $field: metrics::Counter::noop(), )+ }
            }

            /// Descriptions, for exporters that show them (Prometheus's `# HELP`).
            fn describe() {
                $( metrics::describe_counter!(crate::metrics::$metric, metrics::Unit::Count, $doc.trim()); )+
            }
        }
    };
}

region_counters! {
    /// Reads that found a fresh value.
    hits: Striped, Hit => HITS;
    /// Reads that found no usable value.
    misses: Striped, Miss => MISSES;
    /// Expired values served because another caller (or a background task) was regenerating.
    stale: AtomicU64, Stale => STALE_SERVED;
    /// Callers that found no value and had to wait while another caller held the key's lock.
    waits: AtomicU64, Wait => LOCK_WAITS;
    /// Creator calls, successful or not, in the caller or in a background task (a `get_or_create_multi` creator call counts once).
    creates: AtomicU64, Create => CREATOR_RUNS;
    /// Regenerations handed to a background task.
    background: AtomicU64, Background => BACKGROUND_REGENERATIONS;
    /// Expired values served by fail-safe because regenerating them failed, or failed recently.
    fail_safe: AtomicU64, FailSafe => FAIL_SAFE_SERVED;
    /// Creators given up on after the hard creator timeout.
    creator_timeouts: AtomicU64, CreatorTimeout => CREATOR_TIMEOUTS;
    /// Read-through calls served without the backend during an outage (fail-open).
    fail_open: AtomicU64, FailOpen => FAIL_OPEN_SERVED;
    /// Times the fail-open circuit breaker opened.
    breaker_opened: AtomicU64, BreakerOpened => BREAKER_OPENED;
    /// Background regenerations started early by early refresh.
    early_refreshes: AtomicU64, EarlyRefresh => EARLY_REFRESHES;
    /// Creator calls that returned an error.
    creator_errors: AtomicU64, CreatorError => CREATOR_ERRORS;
    /// Waits for a distributed lock that ran past its blocking timeout.
    lock_timeouts: AtomicU64, LockTimeout => LOCK_TIMEOUTS;
    /// Stored entries that did not decode (served as missing, or returned as a codec error, as the decode-error policy says).
    decode_errors: AtomicU64, DecodeError => DECODE_ERRORS;
}

impl Counters {
    /// Counters of the region `name` over `backend`, with the `metrics` feature also
    /// recorded through handles from the installed recorder.
    pub(crate) fn new(name: &str, backend: &'static str) -> Self {
        #[cfg(feature = "metrics")]
        return Counters { metrics: RegionMetrics::new(name, backend), ..Counters::default() };
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (name, backend);
            Counters::default()
        }
    }

    /// Adds one to `count`.
    pub(crate) fn bump(&self, count: Count) {
        self.add(count, 1);
    }

    /// Counts `error` if it is a backend failure or a lock timeout.
    pub(crate) fn error(&self, error: &Error) {
        match error {
            Error::Backend { kind: _kind, .. } => {
                self.backend_errors.add(1);
                #[cfg(feature = "metrics")]
                self.metrics.backend_error(*_kind);
            }
            Error::LockTimeout { .. } => self.bump(Count::LockTimeout),
            _ => {}
        }
    }

    /// Records how long a region call took (with the `metrics` feature).
    #[cfg(feature = "metrics")]
    pub(crate) fn operation(&self, op: super::Operation, took: std::time::Duration) {
        self.metrics.operations[op as usize].record(took.as_secs_f64());
    }

    /// Records how long a creator call took (with the `metrics` feature).
    pub(crate) fn creation(&self, _took: std::time::Duration) {
        #[cfg(feature = "metrics")]
        self.metrics.creation.record(_took.as_secs_f64());
    }

    /// Counts how a read-through call was served (its creator call, if any, is counted where
    /// it runs).
    pub(crate) fn record(&self, outcome: Outcome) {
        let counts: &[Count] = match outcome {
            Outcome::Fresh => &[Count::Hit],
            Outcome::Stale => &[Count::Stale],
            Outcome::StaleBackground => &[Count::Stale, Count::Background],
            Outcome::AfterWait => &[Count::Wait],
            Outcome::Created => &[Count::Miss],
            Outcome::CreatedAfterWait => &[Count::Miss, Count::Wait],
            Outcome::FailSafe => &[Count::FailSafe],
        };
        counts.iter().for_each(|&count| self.bump(count));
    }
}

/// A region's `metrics` handles, taken from the recorder installed when it was built.
#[cfg(feature = "metrics")]
struct RegionMetrics {
    counters: CounterHandles,
    backend_errors: [metrics::Counter; BackendErrorKind::ALL.len()],
    operations: [metrics::Histogram; super::Operation::ALL.len()],
    creation: metrics::Histogram,
}

#[cfg(feature = "metrics")]
impl RegionMetrics {
    fn new(region: &str, backend: &'static str) -> Self {
        use crate::metrics::{BACKEND, BACKEND_ERRORS, CREATION_DURATION, KIND, OPERATION, OPERATION_DURATION, REGION};
        Self::describe();
        let labels = vec![metrics::Label::new(REGION, region.to_owned()), metrics::Label::new(BACKEND, backend)];
        let with = |label: &'static str, value: &'static str| {
            let mut labels = labels.clone();
            labels.push(metrics::Label::new(label, value));
            labels
        };
        RegionMetrics {
            counters: CounterHandles::new(&labels),
            backend_errors: BackendErrorKind::ALL
                .map(|kind| metrics::counter!(BACKEND_ERRORS, with(KIND, kind.name()))),
            operations: super::Operation::ALL
                .map(|op| metrics::histogram!(OPERATION_DURATION, with(OPERATION, op.name()))),
            creation: metrics::histogram!(CREATION_DURATION, labels.clone()),
        }
    }

    fn backend_error(&self, kind: BackendErrorKind) {
        let at = BackendErrorKind::ALL.iter().position(|k| *k == kind).unwrap_or(BackendErrorKind::ALL.len() - 1);
        self.backend_errors[at].increment(1);
    }

    fn describe() {
        use crate::metrics::{BACKEND_ERRORS, CREATION_DURATION, OPERATION_DURATION};
        CounterHandles::describe();
        metrics::describe_counter!(BACKEND_ERRORS, metrics::Unit::Count, "Failed backend calls, by kind");
        metrics::describe_histogram!(
            OPERATION_DURATION,
            metrics::Unit::Seconds,
            "Seconds per region call, by operation"
        );
        metrics::describe_histogram!(CREATION_DURATION, metrics::Unit::Seconds, "Seconds per creator call");
    }
}

/// Handles that record nothing: `Counters::default()`'s, replaced when a region is built.
#[cfg(feature = "metrics")]
impl Default for RegionMetrics {
    fn default() -> Self {
        RegionMetrics {
            counters: CounterHandles::noop(),
            backend_errors: std::array::from_fn(|_| metrics::Counter::noop()),
            operations: std::array::from_fn(|_| metrics::Histogram::noop()),
            creation: metrics::Histogram::noop(),
        }
    }
}

#[cfg(feature = "metrics")]
impl std::fmt::Debug for RegionMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegionMetrics").finish_non_exhaustive()
    }
}
