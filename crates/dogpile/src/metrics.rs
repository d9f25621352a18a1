//! What regions do, as [`metrics`](https://docs.rs/metrics) counters and histograms (with the
//! `metrics` feature).
//!
//! Regions record through the `metrics` facade, so the exporter is yours to choose (Prometheus,
//! StatsD, OpenTelemetry...). A region takes its handles from the recorder installed when it is
//! built: **install the recorder before building regions** (a region built before records
//! nothing, as every `metrics` handle registered before its recorder).
//!
//! Every metric carries the labels [`REGION`] (the region's [name](crate::RegionBuilder::name),
//! empty without one) and [`BACKEND`] (the backend's [name](crate::backend::Backend::name));
//! the counters match [`RegionStats`](crate::region::RegionStats) field for field.
//!
//! | metric | kind | what it counts |
//! |---|---|---|
//! | [`HITS`] | counter | reads that found a fresh value |
//! | [`MISSES`] | counter | reads that found no usable value |
//! | [`STALE_SERVED`] | counter | expired values served while another caller regenerates |
//! | [`LOCK_WAITS`] | counter | callers that waited for another's creation |
//! | [`CREATOR_RUNS`] | counter | creator calls (a multi creator call counts once) |
//! | [`CREATOR_ERRORS`] | counter | creator calls that returned an error |
//! | [`CREATOR_TIMEOUTS`] | counter | creators given up on after the hard timeout |
//! | [`LOCK_TIMEOUTS`] | counter | waits for a distributed lock that timed out |
//! | [`DECODE_ERRORS`] | counter | stored entries that did not decode |
//! | [`BACKEND_ERRORS`] | counter | failed backend calls, by [`KIND`] |
//! | [`BACKGROUND_REGENERATIONS`] | counter | regenerations handed to a background task |
//! | [`EARLY_REFRESHES`] | counter | background regenerations started early |
//! | [`FAIL_SAFE_SERVED`] | counter | expired values served by fail-safe |
//! | [`FAIL_OPEN_SERVED`] | counter | calls served without the backend during an outage |
//! | [`BREAKER_OPENED`] | counter | times the fail-open breaker opened |
//! | [`OPERATION_DURATION`] | histogram | seconds per region call, by [`OPERATION`] |
//! | [`CREATION_DURATION`] | histogram | seconds per creator call |
//!
//! The Redis backends of `dogpile-redis` add [`LOCKS_LOST`] (labelled by backend only: a
//! backend may serve several regions), whatever their lock-lost policy.
//!
//! An [`L1Backend`](crate::backend::L1Backend) adds, labelled by [`BACKEND`] only (the name of
//! the backend behind it), the counters of [`L1Stats`](crate::backend::L1Stats):
//!
//! | metric | kind | what it counts |
//! |---|---|---|
//! | [`L1_HITS`] | counter | reads answered by the L1 |
//! | [`L1_MISSES`] | counter | reads of keys the L1 takes that went to the backend |
//! | [`L1_EVICTIONS`] | counter | entries dropped to keep within the bound |
//! | [`L1_INVALIDATIONS`] | counter | names invalidated by the invalidation source |
//! | [`L1_FLUSHES`] | counter | times every entry was dropped (the source's connection lost) |
//!
//! # Examples
//!
//! ```
//! use metrics_util::debugging::{DebugValue, DebuggingRecorder};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> dogpile::Result<()> {
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! // In a service: `metrics_exporter_prometheus::PrometheusBuilder::new().install()`, once.
//! let region = metrics::with_local_recorder(&recorder, || dogpile::Region::builder().name("users").build())?;
//!
//! region.get_or_create("user:1", || async { Ok::<_, std::io::Error>("Ada".to_string()) }).await?;
//! region.get::<String>("user:1").await?;
//!
//! let hits = snapshotter.snapshot().into_vec().into_iter().find_map(|(key, _, _, value)| {
//!     (key.key().name() == dogpile::metrics::HITS).then_some(value)
//! });
//! assert_eq!(hits, Some(DebugValue::Counter(1)));
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use metrics::{Counter, Histogram, Label, Unit};

use crate::error::BackendErrorKind;
use crate::region::Operation;

/// Label: the region's name.
pub const REGION: &str = "region";
/// Label: the backend's name.
pub const BACKEND: &str = "backend";
/// Label of [`BACKEND_ERRORS`]: the [`BackendErrorKind::name`].
pub const KIND: &str = "kind";
/// Label of [`OPERATION_DURATION`]: `get`, `get_multi`, `set`, `set_multi`, `delete`,
/// `delete_multi`, `get_or_create` or `get_or_create_multi`.
pub const OPERATION: &str = "operation";

/// Counter: reads that found a fresh value.
pub const HITS: &str = "dogpile_hits_total";
/// Counter: reads that found no usable value.
pub const MISSES: &str = "dogpile_misses_total";
/// Counter: expired values served because another caller (or a background task) regenerates.
pub const STALE_SERVED: &str = "dogpile_stale_served_total";
/// Counter: callers that found no value and waited while another caller held the key's lock.
pub const LOCK_WAITS: &str = "dogpile_lock_waits_total";
/// Counter: creator calls.
pub const CREATOR_RUNS: &str = "dogpile_creator_runs_total";
/// Counter: creator calls that returned an error.
pub const CREATOR_ERRORS: &str = "dogpile_creator_errors_total";
/// Counter: creators given up on after the hard creator timeout.
pub const CREATOR_TIMEOUTS: &str = "dogpile_creator_timeouts_total";
/// Counter: waits for a distributed lock that ran past the lock's blocking timeout.
pub const LOCK_TIMEOUTS: &str = "dogpile_lock_timeouts_total";
/// Counter: distributed locks found gone (expired or taken over) when their holder released
/// them; recorded by the Redis backends, labelled by [`BACKEND`] only.
pub const LOCKS_LOST: &str = "dogpile_locks_lost_total";
/// Counter: reads answered by an L1, labelled by [`BACKEND`].
pub const L1_HITS: &str = "dogpile_l1_hits_total";
/// Counter: reads of keys an L1 takes that went to its backend, labelled by [`BACKEND`].
pub const L1_MISSES: &str = "dogpile_l1_misses_total";
/// Counter: L1 entries dropped to keep within the bound, labelled by [`BACKEND`].
pub const L1_EVICTIONS: &str = "dogpile_l1_evictions_total";
/// Counter: names an L1's invalidation source invalidated, labelled by [`BACKEND`].
pub const L1_INVALIDATIONS: &str = "dogpile_l1_invalidations_total";
/// Counter: times an L1 dropped every entry at once, labelled by [`BACKEND`].
pub const L1_FLUSHES: &str = "dogpile_l1_flushes_total";
/// Counter: stored entries that did not decode (under either decode-error policy).
pub const DECODE_ERRORS: &str = "dogpile_decode_errors_total";
/// Counter: failed backend calls, labelled by [`KIND`].
pub const BACKEND_ERRORS: &str = "dogpile_backend_errors_total";
/// Counter: regenerations handed to a background task.
pub const BACKGROUND_REGENERATIONS: &str = "dogpile_background_regenerations_total";
/// Counter: background regenerations started early by early refresh.
pub const EARLY_REFRESHES: &str = "dogpile_early_refreshes_total";
/// Counter: expired values served by fail-safe after a failed regeneration.
pub const FAIL_SAFE_SERVED: &str = "dogpile_fail_safe_served_total";
/// Counter: read-through calls served without the backend during an outage (fail-open).
pub const FAIL_OPEN_SERVED: &str = "dogpile_fail_open_served_total";
/// Counter: times the fail-open circuit breaker opened.
pub const BREAKER_OPENED: &str = "dogpile_breaker_opened_total";
/// Histogram: seconds per region call, labelled by [`OPERATION`].
pub const OPERATION_DURATION: &str = "dogpile_operation_duration_seconds";
/// Histogram: seconds per creator call (successful or not).
pub const CREATION_DURATION: &str = "dogpile_creation_duration_seconds";

/// A region's handles, taken from the recorder installed when it was built.
pub(crate) struct RegionMetrics {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) stale: Counter,
    pub(crate) waits: Counter,
    pub(crate) creates: Counter,
    pub(crate) creator_errors: Counter,
    pub(crate) creator_timeouts: Counter,
    pub(crate) lock_timeouts: Counter,
    pub(crate) decode_errors: Counter,
    pub(crate) background: Counter,
    pub(crate) early_refreshes: Counter,
    pub(crate) fail_safe: Counter,
    pub(crate) fail_open: Counter,
    pub(crate) breaker_opened: Counter,
    backend_errors: [Counter; BackendErrorKind::ALL.len()],
    operations: [Histogram; Operation::ALL.len()],
    creation: Histogram,
}

impl RegionMetrics {
    pub(crate) fn new(region: &str, backend: &'static str) -> Self {
        describe();
        let labels = vec![Label::new(REGION, region.to_owned()), Label::new(BACKEND, backend)];
        let counter = |name: &'static str| metrics::counter!(name, labels.clone());
        let with = |label: &'static str, value: &'static str| {
            let mut labels = labels.clone();
            labels.push(Label::new(label, value));
            labels
        };
        RegionMetrics {
            hits: counter(HITS),
            misses: counter(MISSES),
            stale: counter(STALE_SERVED),
            waits: counter(LOCK_WAITS),
            creates: counter(CREATOR_RUNS),
            creator_errors: counter(CREATOR_ERRORS),
            creator_timeouts: counter(CREATOR_TIMEOUTS),
            lock_timeouts: counter(LOCK_TIMEOUTS),
            decode_errors: counter(DECODE_ERRORS),
            background: counter(BACKGROUND_REGENERATIONS),
            early_refreshes: counter(EARLY_REFRESHES),
            fail_safe: counter(FAIL_SAFE_SERVED),
            fail_open: counter(FAIL_OPEN_SERVED),
            breaker_opened: counter(BREAKER_OPENED),
            backend_errors: BackendErrorKind::ALL
                .map(|kind| metrics::counter!(BACKEND_ERRORS, with(KIND, kind.name()))),
            operations: Operation::ALL.map(|op| metrics::histogram!(OPERATION_DURATION, with(OPERATION, op.name()))),
            creation: metrics::histogram!(CREATION_DURATION, labels.clone()),
        }
    }

    pub(crate) fn backend_error(&self, kind: BackendErrorKind) {
        let at = BackendErrorKind::ALL.iter().position(|k| *k == kind).unwrap_or(BackendErrorKind::ALL.len() - 1);
        self.backend_errors[at].increment(1);
    }

    pub(crate) fn operation(&self, op: Operation, took: Duration) {
        self.operations[op as usize].record(took.as_secs_f64());
    }

    pub(crate) fn creation(&self, took: Duration) {
        self.creation.record(took.as_secs_f64());
    }
}

/// Handles that record nothing: `Counters::default()`'s, replaced when a region is built.
impl Default for RegionMetrics {
    fn default() -> Self {
        RegionMetrics {
            hits: Counter::noop(),
            misses: Counter::noop(),
            stale: Counter::noop(),
            waits: Counter::noop(),
            creates: Counter::noop(),
            creator_errors: Counter::noop(),
            creator_timeouts: Counter::noop(),
            lock_timeouts: Counter::noop(),
            decode_errors: Counter::noop(),
            background: Counter::noop(),
            early_refreshes: Counter::noop(),
            fail_safe: Counter::noop(),
            fail_open: Counter::noop(),
            breaker_opened: Counter::noop(),
            backend_errors: std::array::from_fn(|_| Counter::noop()),
            operations: std::array::from_fn(|_| Histogram::noop()),
            creation: Histogram::noop(),
        }
    }
}

impl fmt::Debug for RegionMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegionMetrics").finish_non_exhaustive()
    }
}

/// Descriptions and units, for exporters that show them (Prometheus's `# HELP`).
fn describe() {
    for (name, help) in [
        (HITS, "Reads that found a fresh value"),
        (MISSES, "Reads that found no usable value"),
        (STALE_SERVED, "Expired values served while another caller regenerates them"),
        (LOCK_WAITS, "Callers that waited for another caller's creation"),
        (CREATOR_RUNS, "Creator calls"),
        (CREATOR_ERRORS, "Creator calls that returned an error"),
        (CREATOR_TIMEOUTS, "Creators given up on after the hard creator timeout"),
        (LOCK_TIMEOUTS, "Waits for a distributed lock that timed out"),
        (DECODE_ERRORS, "Stored entries that did not decode"),
        (BACKEND_ERRORS, "Failed backend calls, by kind"),
        (BACKGROUND_REGENERATIONS, "Regenerations handed to a background task"),
        (EARLY_REFRESHES, "Background regenerations started early"),
        (FAIL_SAFE_SERVED, "Expired values served by fail-safe after a failed regeneration"),
        (FAIL_OPEN_SERVED, "Calls served without the backend during an outage"),
        (BREAKER_OPENED, "Times the fail-open circuit breaker opened"),
    ] {
        metrics::describe_counter!(name, Unit::Count, help);
    }
    metrics::describe_histogram!(OPERATION_DURATION, Unit::Seconds, "Seconds per region call, by operation");
    metrics::describe_histogram!(CREATION_DURATION, Unit::Seconds, "Seconds per creator call");
}

/// The counters of one L1 (no-op handles by default).
#[derive(Debug)]
pub(crate) struct L1Metrics {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) evictions: Counter,
    pub(crate) invalidations: Counter,
    pub(crate) flushes: Counter,
}

impl Default for L1Metrics {
    fn default() -> Self {
        L1Metrics {
            hits: Counter::noop(),
            misses: Counter::noop(),
            evictions: Counter::noop(),
            invalidations: Counter::noop(),
            flushes: Counter::noop(),
        }
    }
}

impl L1Metrics {
    pub(crate) fn new(backend: &'static str) -> Self {
        let counter = |name: &'static str| metrics::counter!(name, BACKEND => backend);
        L1Metrics {
            hits: counter(L1_HITS),
            misses: counter(L1_MISSES),
            evictions: counter(L1_EVICTIONS),
            invalidations: counter(L1_INVALIDATIONS),
            flushes: counter(L1_FLUSHES),
        }
    }
}
