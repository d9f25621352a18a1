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
//! The counters of [`RegionStats`](crate::region::RegionStats), one per field (its
//! documentation has the table, made from the same declaration as the fields), and:
//!
//! | metric | kind | what it counts |
//! |---|---|---|
//! | [`BACKEND_ERRORS`] | counter | failed backend calls, by [`KIND`] |
//! | [`OPERATION_DURATION`] | histogram | seconds per region call, by [`OPERATION`] |
//! | [`CREATION_DURATION`] | histogram | seconds per creator call |
//!
//! The Redis backends of `dogpile-redis` add [`LOCKS_LOST`] (labelled by backend only: a
//! backend may serve several regions), whatever their lock-lost policy, and, with
//! `coalesce_reads`, [`COALESCED_BATCHES`] and [`COALESCED_READS`] (their ratio is the reads
//! a batch answers).
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

/// Label: the region's name.
pub const REGION: &str = "region";
/// Label: the backend's name.
pub const BACKEND: &str = "backend";
/// Label of [`BACKEND_ERRORS`]: the [`BackendErrorKind::name`](crate::BackendErrorKind::name).
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
/// Counter: coalesced reads sent (each one multi-key read for the single-key reads that waited
/// while another was out), recorded by the Redis backends, labelled by [`BACKEND`].
pub const COALESCED_BATCHES: &str = "dogpile_coalesced_batches_total";
/// Counter: single-key reads answered by a coalesced read (its sender's included), recorded
/// by the Redis backends, labelled by [`BACKEND`].
pub const COALESCED_READS: &str = "dogpile_coalesced_reads_total";
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
