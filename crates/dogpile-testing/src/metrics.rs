//! Reading back what was recorded through the `metrics` facade, for tests that check the
//! counters and histograms of regions and backends.
//!
//! ```
//! use metrics_util::debugging::DebuggingRecorder;
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! metrics::with_local_recorder(&recorder, || metrics::counter!("hits", "region" => "users").increment(2));
//! let read = dogpile_testing::metrics::read(&snapshotter);
//! assert_eq!(read.get(&dogpile_testing::metrics::key("hits", &[("region", "users")])), Some(&2));
//! ```

use std::collections::BTreeMap;

use metrics_util::debugging::{DebugValue, Snapshotter};

/// One snapshot (the debugging recorder's snapshots read counters destructively) by
/// [`key`]: counters as their count, histograms as their number of samples; gauges left out.
pub fn read(snapshotter: &Snapshotter) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
        let n = match value {
            DebugValue::Counter(n) => n,
            DebugValue::Histogram(samples) => samples.len() as u64,
            DebugValue::Gauge(_) => continue,
        };
        out.insert(self::key(key.name(), &labels), n);
    }
    out
}

/// `name{k=v,...}`, the labels sorted: how [`read`] names a metric.
pub fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}
