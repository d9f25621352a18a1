//! Latencies and their percentiles, in an HdrHistogram: constant memory whatever the number
//! of samples, three significant figures, mergeable across tasks and processes.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The longest latency kept as it is: an hour (longer ones count as an hour).
const LONGEST_NANOS: u64 = 3_600_000_000_000;

/// Latencies from 1 ns to an hour, to three significant figures.
#[derive(Debug, Clone)]
pub struct Latencies {
    nanos: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        // Constant bounds that HdrHistogram accepts (1 <= low, high >= 2 * low, 3 figures):
        // no input reaches this.
        let nanos = Histogram::new_with_bounds(1, LONGEST_NANOS, 3).expect("constant histogram bounds are valid");
        Latencies { nanos }
    }
}

impl Latencies {
    pub fn record(&mut self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX).clamp(1, LONGEST_NANOS);
        self.nanos.saturating_record(nanos);
    }

    pub fn merge(&mut self, other: Latencies) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.nanos.add(&other.nanos);
    }

    /// The `p`-th percentile (0..=100); 100 is the longest.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.nanos.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.nanos.value_at_quantile(p / 100.0))
    }

    /// The longest latency.
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.nanos.max())
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency for humans: `420 ns`, `850 µs`, `12.3 ms`, `1.20 s`.
pub fn human(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1 {
        format!("{} ns", d.as_nanos())
    } else if micros < 1_000 {
        format!("{micros} µs")
    } else if micros < 1_000_000 {
        format!("{:.1} ms", micros as f64 / 1_000.0)
    } else {
        format!("{:.2} s", micros as f64 / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within HdrHistogram's three significant figures.
    fn near(got: Duration, want: Duration) -> bool {
        got.as_nanos().abs_diff(want.as_nanos()) * 1000 <= want.as_nanos()
    }

    #[test]
    fn percentiles_and_formatting() {
        let mut l = Latencies::default();
        for i in 1..=100 {
            l.record(Duration::from_micros(i));
        }
        assert!(near(l.percentile(50.0), Duration::from_micros(50)), "{:?}", l.percentile(50.0));
        assert!(near(l.percentile(99.0), Duration::from_micros(99)), "{:?}", l.percentile(99.0));
        assert!(near(l.max(), Duration::from_micros(100)), "{:?}", l.max());
        // Merged across tasks: the same as recorded in one.
        let (mut a, mut b) = (Latencies::default(), Latencies::default());
        for i in 1..=100 {
            let half = if i % 2 == 0 { &mut a } else { &mut b };
            half.record(Duration::from_micros(i));
        }
        a.merge(b);
        assert_eq!(a.percentile(99.9), l.percentile(99.9));
        assert_eq!(Latencies::default().percentile(50.0), Duration::ZERO);
        assert_eq!(human(Duration::from_nanos(420)), "420 ns");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(human(Duration::from_micros(1_500)), "1.5 ms");
    }
}

/// The throughput ratio of two layers that take turns in rounds: the median of each round's
/// ratio, so that a machine whose speed drifts during the run (a shared 2-core box) compares
/// each round with its neighbour, not a fast phase with a slow one.
#[derive(Debug, Default)]
pub struct PairedRatio {
    ratios: Vec<f64>,
}

impl PairedRatio {
    /// Records one round: operations per second of the measured layer and of the baseline.
    pub fn record(&mut self, measured: f64, baseline: f64) {
        if baseline > 0.0 {
            self.ratios.push(measured / baseline);
        }
    }

    /// The median of the recorded ratios, if any.
    pub fn median(&self) -> Option<f64> {
        let mut sorted = self.ratios.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(sorted[n / 2]),
            _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
        }
    }
}

#[cfg(test)]
mod paired_tests {
    use super::PairedRatio;

    #[test]
    fn median_of_round_ratios() {
        let mut paired = PairedRatio::default();
        assert_eq!(paired.median(), None);
        paired.record(90.0, 100.0);
        paired.record(10.0, 100.0); // one disturbed round does not move the median far
        paired.record(300.0, 100.0);
        assert_eq!(paired.median(), Some(0.9));
        paired.record(95.0, 100.0);
        paired.record(1.0, 0.0); // no baseline: not a ratio
        assert!((paired.median().unwrap() - 0.925).abs() < 1e-9);
    }
}
